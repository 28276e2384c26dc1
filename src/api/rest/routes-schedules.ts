import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ErrorJson, TaskJson } from '../schemas/tasks.js';
import { ScheduleRefParams } from '../schemas/admin.js';
import {
  CreateScheduleBody,
  ScheduleJson,
  UpdateScheduleBody,
  type CreateScheduleInput,
  type UpdateScheduleInput,
} from '../schemas/schedules.js';
import { WorkflowJson } from '../schemas/workflows.js';
import { SchedulesApi, scheduleToJson } from '../services/schedules.js';
import { workflowToJson } from './routes-workflows.js';
import { taskToJson } from './serialize.js';

const errors = {
  400: ErrorJson,
  401: ErrorJson,
  403: ErrorJson,
  404: ErrorJson,
  409: ErrorJson,
  429: ErrorJson,
  503: ErrorJson,
};

/**
 * /v1/schedules: cron schedules, each starting a task or a workflow. Triggers submit as
 * POST /v1/tasks or POST /v1/workflows does, with their checks and limits.
 */
export function registerScheduleRoutes(app: FastifyInstance, api: SchedulesApi): void {
  type Ref = { Params: { ref: string } };

  app.post<{ Body: CreateScheduleInput }>(
    '/v1/schedules',
    {
      config: { action: 'admin' },
      schema: {
        tags: ['schedules'],
        summary: 'Create a cron schedule: each tick starts a task (command) or a workflow',
        body: CreateScheduleBody,
        response: { 201: ScheduleJson, ...errors },
      },
    },
    async (req, reply) => reply.code(201).send(scheduleToJson(await api.create(req.body))),
  );

  app.get(
    '/v1/schedules',
    {
      schema: {
        tags: ['schedules'],
        summary: 'List schedules',
        response: { 200: Type.Object({ items: Type.Array(ScheduleJson) }), ...errors },
      },
    },
    async () => ({ items: (await api.list()).map((s) => scheduleToJson(s)) }),
  );

  app.get<Ref>(
    '/v1/schedules/:ref',
    {
      schema: {
        tags: ['schedules'],
        summary: 'One schedule, with its recent runs',
        params: ScheduleRefParams,
        response: { 200: ScheduleJson, ...errors },
      },
    },
    async (req) => {
      const { schedule, runs } = await api.get(req.params.ref);
      return scheduleToJson(schedule, runs);
    },
  );

  app.patch<Ref & { Body: UpdateScheduleInput }>(
    '/v1/schedules/:ref',
    {
      config: { action: 'admin' },
      schema: {
        tags: ['schedules'],
        summary: 'Change a schedule',
        description:
          'Fields left out keep their value. A new cron or time zone recomputes the next run from now. command turns a workflow schedule into a task schedule; workflow, the other way round.',
        params: ScheduleRefParams,
        body: UpdateScheduleBody,
        response: { 200: ScheduleJson, ...errors },
      },
    },
    async (req) => scheduleToJson(await api.update(req.params.ref, req.body)),
  );

  app.delete<Ref>(
    '/v1/schedules/:ref',
    {
      config: { action: 'admin' },
      schema: {
        tags: ['schedules'],
        summary: 'Delete a schedule (tasks it created stay)',
        params: ScheduleRefParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await api.remove(req.params.ref);
      return reply.code(204).send();
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post<Ref>(
      `/v1/schedules/:ref/${action}`,
      {
        config: { action: 'admin' },
        schema: {
          tags: ['schedules'],
          summary:
            action === 'pause'
              ? 'Pause a schedule'
              : 'Resume a schedule (ticks missed while paused are skipped)',
          params: ScheduleRefParams,
          response: { 200: ScheduleJson, ...errors },
        },
      },
      async (req) =>
        scheduleToJson(await api.update(req.params.ref, { paused: action === 'pause' })),
    );
  }

  app.post<Ref>(
    '/v1/schedules/:ref/trigger',
    {
      schema: {
        tags: ['schedules'],
        summary: 'Run a schedule now, once: its task, or its workflow',
        description:
          'A task schedule submits its task like POST /v1/tasks (so a queue at --max-queue-depth answers 429 with Retry-After) and answers with the task; a workflow schedule submits its workflow like POST /v1/workflows and answers with the workflow.',
        params: ScheduleRefParams,
        response: { 201: Type.Union([TaskJson, WorkflowJson]), ...errors },
      },
    },
    async (req, reply) => {
      const run = await api.trigger(req.params.ref);
      return reply
        .code(201)
        .send(run.kind === 'task' ? taskToJson(run.task) : workflowToJson(run.workflow));
    },
  );
}
