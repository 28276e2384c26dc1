import type { FastifyInstance } from 'fastify';
import {
  ErrorJson,
  ScheduleBody,
  ScheduleResponse,
  SeedStatusJson,
  StatusQuery,
  type ScheduleInput,
} from '../schemas/tasks.js';
import { taskToSeedStatus } from './serialize.js';
import type { TasksApi } from '../services/tasks.js';
import { parseTimestamp } from '../../lib/time.js';

const errors = { 400: ErrorJson, 404: ErrorJson, 413: ErrorJson, 503: ErrorJson };

/**
 * The seed's two routes, kept exactly as its README uses them:
 * `POST /schedule {"command", "scheduled_at"}` and `GET /status?task_id=`.
 */
export function registerSeedRoutes(app: FastifyInstance, api: TasksApi): void {
  app.post<{ Body: ScheduleInput }>(
    '/schedule',
    {
      schema: {
        tags: ['seed'],
        summary: 'Schedule a command (seed-compatible)',
        description: 'Accepts a JSON body with any Content-Type, as `curl -d` sends.',
        body: ScheduleBody,
        response: { 200: ScheduleResponse, ...errors },
      },
    },
    async (req) => {
      // Checked here too so that a bad time is reported under the seed's field name.
      parseTimestamp(req.body.scheduled_at, 'scheduled_at');
      const { task } = await api.submit({
        command: req.body.command,
        run_at: req.body.scheduled_at,
      });
      return {
        command: task.command,
        scheduled_at: task.scheduledAt.toISOString(),
        task_id: task.id,
      };
    },
  );

  app.get<{ Querystring: { task_id: string } }>(
    '/status',
    {
      schema: {
        tags: ['seed'],
        summary: 'Status of a task (seed-compatible)',
        description: 'Timestamps that are not set yet are left out.',
        querystring: StatusQuery,
        response: { 200: SeedStatusJson, ...errors },
      },
    },
    async (req) => {
      const { task } = await api.get(req.query.task_id, { detail: false, field: 'task_id' });
      return taskToSeedStatus(task);
    },
  );
}
