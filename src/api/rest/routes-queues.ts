import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../../store/db.js';
import {
  listQueues,
  recentThroughput,
  updateQueue,
  type QueueInfo,
  type QueueThroughput,
} from '../../store/queues.js';
import { listWorkers, type WorkerStatus } from '../../store/workers.js';
import { ErrorJson } from '../schemas/tasks.js';
import {
  QueueJson,
  QueueNameParams,
  QueueSettingsBody,
  WorkerJson,
  type QueueSettingsInput,
} from '../schemas/admin.js';
import { checkBackoffRange } from '../services/submit.js';
import { guardDb } from '../services/tasks.js';

const errors = { 400: ErrorJson, 404: ErrorJson, 503: ErrorJson };
/** A worker unheard of for this long is shown as silent. */
const WORKER_FRESH_MS = 5_000;
/** Workers gone for longer than this drop off the list. */
const WORKER_HISTORY_MS = 3_600_000;
/** The throughput window of /v1/queues, seconds. */
const THROUGHPUT_WINDOW_S = 60;
/**
 * Throughput is read at most this often per process: a minute of tasks is a lot of rows under
 * load, and dashboards reload the queues on every burst of events. Depth is always fresh.
 */
const THROUGHPUT_CACHE_MS = 5000;

const NONE: QueueThroughput = { succeeded: 0, failed: 0 };

function queueToJson(q: QueueInfo, t: QueueThroughput = NONE) {
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
  };
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
export function registerQueueRoutes(app: FastifyInstance, db: Db): void {
  let throughput: { at: number; value: Promise<Map<string, QueueThroughput>> } | null = null;
  const recent = (): Promise<Map<string, QueueThroughput>> => {
    if (!throughput || Date.now() - throughput.at > THROUGHPUT_CACHE_MS) {
      // Throughput is decoration: when it cannot be read, queues show none rather than fail
      // (a pause during an incident must still answer), and the failure is not cached.
      const entry = {
        at: Date.now(),
        value: recentThroughput(db, THROUGHPUT_WINDOW_S).catch(() => {
          if (throughput === entry) throughput = null;
          return new Map<string, QueueThroughput>();
        }),
      };
      throughput = entry;
    }
    return throughput.value;
  };
  const empty = (name: string): QueueInfo => ({
    name,
    paused: false,
    due: 0,
    scheduled: 0,
    running: 0,
    dead: 0,
    oldestDueAgeMs: null,
    maxAttempts: null,
    backoffBaseMs: null,
    backoffMaxMs: null,
    concurrencyLimit: null,
    keyConcurrencyLimit: null,
  });
  const one = async (name: string) => {
    const [[q], t] = await Promise.all([guardDb(() => listQueues(db, name)), recent()]);
    return queueToJson(q ?? empty(name), t.get(name));
  };

  app.get(
    '/v1/queues',
    {
      schema: {
        tags: ['queues'],
        summary: 'Queues with their depth and settings',
        response: { 200: Type.Object({ items: Type.Array(QueueJson) }), ...errors },
      },
    },
    async () => {
      const [queues, t] = await Promise.all([guardDb(() => listQueues(db)), recent()]);
      // A queue with nothing left but tasks finished in the last minute is still listed.
      const listed = new Set(queues.map((q) => q.name));
      const all = [...queues, ...[...t.keys()].filter((n) => !listed.has(n)).map(empty)];
      all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { items: all.map((q) => queueToJson(q, t.get(q.name))) };
    },
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
    async (req) => one(req.params.name),
  );

  app.put<{ Params: { name: string }; Body: QueueSettingsInput }>(
    '/v1/queues/:name',
    {
      config: { action: 'admin' },
      schema: {
        tags: ['queues'],
        summary: "Set a queue's retry defaults and concurrency limits",
        description:
          'Applies to tasks submitted afterwards that set none themselves. Fields left out keep their value; null clears one.',
        params: QueueNameParams,
        body: QueueSettingsBody,
        response: { 200: QueueJson, ...errors },
      },
    },
    async (req) => {
      const b = req.body;
      // Tasks that set neither take both defaults, so the pair must make sense together.
      const changed = b.backoff_max_ms !== undefined ? 'backoff_max_ms' : 'backoff_ms';
      await guardDb(() =>
        updateQueue(
          db,
          req.params.name,
          {
            ...(b.max_attempts !== undefined ? { maxAttempts: b.max_attempts } : {}),
            ...(b.backoff_ms !== undefined ? { backoffBaseMs: b.backoff_ms } : {}),
            ...(b.backoff_max_ms !== undefined ? { backoffMaxMs: b.backoff_max_ms } : {}),
            ...(b.concurrency_limit !== undefined ? { concurrencyLimit: b.concurrency_limit } : {}),
            ...(b.key_concurrency_limit !== undefined
              ? { keyConcurrencyLimit: b.key_concurrency_limit }
              : {}),
          },
          (m) => checkBackoffRange(m.backoffBaseMs, m.backoffMaxMs, changed),
        ),
      );
      return one(req.params.name);
    },
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
      async (req) => {
        await guardDb(() => updateQueue(db, req.params.name, { paused: action === 'pause' }));
        return one(req.params.name);
      },
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
    async () => ({
      items: (await guardDb(() => listWorkers(db, WORKER_FRESH_MS, WORKER_HISTORY_MS))).map(
        workerToJson,
      ),
    }),
  );
}
