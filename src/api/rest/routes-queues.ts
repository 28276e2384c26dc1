import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { RateLimit } from '../../store/queues.js';
import type { WorkerStatus } from '../../store/workers.js';
import { ErrorJson } from '../schemas/tasks.js';
import {
  QueueJson,
  QueueNameParams,
  QueueSettingsBody,
  WorkerJson,
  type QueueSettingsInput,
} from '../schemas/admin.js';
import type { QueuesApi, QueueView } from '../services/queues.js';

const errors = { 400: ErrorJson, 404: ErrorJson, 503: ErrorJson };

function queueToJson(q: QueueView) {
  const t = q.throughput;
  return {
    name: q.name,
    paused: q.paused,
    due: q.due,
    scheduled: q.scheduled,
    running: q.running,
    dead: q.dead,
    oldest_due_age_ms: q.oldestDueAgeMs,
    succeeded_last_minute: t.succeeded,
    failed_last_minute: t.failed,
    max_attempts: q.maxAttempts,
    backoff_ms: q.backoffBaseMs,
    backoff_max_ms: q.backoffMaxMs,
    concurrency_limit: q.concurrencyLimit,
    key_concurrency_limit: q.keyConcurrencyLimit,
    rate_limit: rateLimitToJson(q.rateLimit),
    key_rate_limit: rateLimitToJson(q.keyRateLimit),
    group_weights: q.groupWeights,
  };
}

function rateLimitToJson(r: RateLimit | null) {
  return r ? { count: r.count, period_ms: r.periodMs } : null;
}

function workerToJson(w: WorkerStatus) {
  return {
    id: w.id,
    name: w.name,
    state: w.state,
    queues: w.queues,
    handlers: w.handlers,
    accepts_any_command: w.acceptsAnyCommand,
    concurrency: w.concurrency,
    running: w.running,
    labels: w.labels,
    version: w.version || null,
    coordinator_id: w.coordinatorId,
    first_seen_at: w.firstSeenAt.toISOString(),
    last_seen_at: w.lastSeenAt.toISOString(),
    disconnected_at: w.disconnectedAt ? w.disconnectedAt.toISOString() : null,
  };
}

/** /v1/queues and /v1/workers. */
export function registerQueueRoutes(app: FastifyInstance, queues: QueuesApi): void {
  app.get(
    '/v1/queues',
    {
      schema: {
        tags: ['queues'],
        summary: 'Queues with their depth and settings',
        response: { 200: Type.Object({ items: Type.Array(QueueJson) }), ...errors },
      },
    },
    async () => ({ items: (await queues.list()).map(queueToJson) }),
  );

  app.get<{ Params: { name: string } }>(
    '/v1/queues/:name',
    {
      schema: {
        tags: ['queues'],
        summary: 'One queue',
        params: QueueNameParams,
        response: { 200: QueueJson, ...errors },
      },
    },
    async (req) => queueToJson(await queues.get(req.params.name)),
  );

  app.put<{ Params: { name: string }; Body: QueueSettingsInput }>(
    '/v1/queues/:name',
    {
      config: { action: 'admin' },
      schema: {
        tags: ['queues'],
        summary: "Set a queue's retry defaults, concurrency and rate limits, and group weights",
        description:
          'Retry defaults apply to tasks submitted afterwards that set none themselves; limits and weights apply to every claim from now on. Fields left out keep their value; null clears one.',
        params: QueueNameParams,
        body: QueueSettingsBody,
        response: { 200: QueueJson, ...errors },
      },
    },
    async (req) => queueToJson(await queues.update(req.params.name, req.body)),
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: { name: string } }>(
      `/v1/queues/:name/${action}`,
      {
        config: { action: 'admin' },
        schema: {
          tags: ['queues'],
          summary:
            action === 'pause'
              ? 'Pause a queue: no new claims; running tasks finish'
              : 'Resume a paused queue',
          params: QueueNameParams,
          response: { 200: QueueJson, ...errors },
        },
      },
      async (req) => queueToJson(await queues.setPaused(req.params.name, action === 'pause')),
    );
  }

  app.get(
    '/v1/workers',
    {
      schema: {
        tags: ['workers'],
        summary: 'Workers seen in the last hour',
        description: 'Live ones first by age; silent and disconnected ones are marked.',
        response: { 200: Type.Object({ items: Type.Array(WorkerJson) }), ...errors },
      },
    },
    async () => ({ items: (await queues.workers()).map(workerToJson) }),
  );
}
