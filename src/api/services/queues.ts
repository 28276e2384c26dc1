import { monotonicMs } from '../../lib/clock.js';
import type { Db } from '../../store/db.js';
import {
  listQueues,
  recentThroughput,
  updateQueue,
  type QueueInfo,
  type QueueSettings,
  type QueueThroughput,
  type RateLimit,
} from '../../store/queues.js';
import { listWorkers, type WorkerStatus } from '../../store/workers.js';
import { QueueNameParams, QueueSettingsBody, type QueueSettingsInput } from '../schemas/admin.js';
import { checkSchema } from '../schemas/check.js';
import { checkStorable } from '../schemas/storable.js';
import { checkBackoffRange } from './submit.js';
import { guardDb } from './guard.js';

/** A worker unheard of for this long is shown as silent. */
export const WORKER_FRESH_MS = 5_000;
/** Workers gone for longer than this drop off the list. */
const WORKER_HISTORY_MS = 3_600_000;
/** The throughput window of the queue list, seconds. */
const THROUGHPUT_WINDOW_S = 60;
/**
 * Throughput is read at most this often per process: a minute of tasks is a lot of rows under
 * load, and dashboards reload the queues on every burst of events. Depth is always fresh.
 */
const THROUGHPUT_CACHE_MS = 5000;

/** A queue with its last minute's throughput. */
export interface QueueView extends QueueInfo {
  throughput: QueueThroughput;
}

const NONE: QueueThroughput = { succeeded: 0, failed: 0 };

function empty(name: string): QueueInfo {
  return {
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
    rateLimit: null,
    keyRateLimit: null,
    groupWeights: null,
  };
}

function rateLimitOf(r: { count: number; period_ms: number } | null): RateLimit | null {
  return r ? { count: r.count, periodMs: r.period_ms } : null;
}

/**
 * A queue name as every edge takes it (REST checks its path parameter with the same schema).
 * @throws ValidationError naming `name`.
 */
export function checkQueueName(name: string): string {
  return checkSchema(QueueNameParams, { name }).name;
}

/**
 * Queues and workers, for every edge: depth and settings (always fresh), the last minute's
 * throughput (cached per process), settings changes, pause and resume, and the workers list.
 * One instance per process.
 */
export class QueuesApi {
  private throughput: { at: number; value: Promise<Map<string, QueueThroughput>> } | null = null;

  constructor(private readonly db: Db) {}

  /** Every queue with tasks, settings or tasks finished in the last minute, by name. */
  async list(): Promise<QueueView[]> {
    const [queues, t] = await Promise.all([guardDb(() => listQueues(this.db)), this.recent()]);
    const listed = new Set(queues.map((q) => q.name));
    const all = [...queues, ...[...t.keys()].filter((n) => !listed.has(n)).map(empty)];
    all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return all.map((q) => ({ ...q, throughput: t.get(q.name) ?? NONE }));
  }

  /** One queue; a queue nobody has used yet is empty, not missing. */
  async get(name: string): Promise<QueueView> {
    const [[q], t] = await Promise.all([guardDb(() => listQueues(this.db, name)), this.recent()]);
    return { ...(q ?? empty(name)), throughput: t.get(name) ?? NONE };
  }

  /**
   * Changes a queue's settings as every edge takes them (a field left out keeps its value;
   * null clears it) and returns the queue.
   * @throws ValidationError naming the field: a value out of its range, or a backoff pair
   * that, as it would be stored, makes no sense.
   */
  async update(name: string, input: QueueSettingsInput): Promise<QueueView> {
    // Text PostgreSQL cannot store (a group's name with a NUL), from edges without the REST
    // gate, as the task service checks it.
    checkStorable(input);
    const b = checkSchema(QueueSettingsBody, input);
    const settings: QueueSettings = {
      ...(b.max_attempts !== undefined ? { maxAttempts: b.max_attempts } : {}),
      ...(b.backoff_ms !== undefined ? { backoffBaseMs: b.backoff_ms } : {}),
      ...(b.backoff_max_ms !== undefined ? { backoffMaxMs: b.backoff_max_ms } : {}),
      ...(b.concurrency_limit !== undefined ? { concurrencyLimit: b.concurrency_limit } : {}),
      ...(b.key_concurrency_limit !== undefined
        ? { keyConcurrencyLimit: b.key_concurrency_limit }
        : {}),
      ...(b.rate_limit !== undefined ? { rateLimit: rateLimitOf(b.rate_limit) } : {}),
      ...(b.key_rate_limit !== undefined ? { keyRateLimit: rateLimitOf(b.key_rate_limit) } : {}),
      ...(b.group_weights !== undefined ? { groupWeights: b.group_weights } : {}),
    };
    const changed = b.backoff_max_ms !== undefined ? 'backoff_max_ms' : 'backoff_ms';
    // Tasks that set neither take both defaults, so the pair must make sense together.
    await guardDb(() =>
      updateQueue(this.db, name, settings, (m) =>
        checkBackoffRange(m.backoffBaseMs, m.backoffMaxMs, changed),
      ),
    );
    return this.get(name);
  }

  /** Pauses (no new claims; running tasks finish) or resumes a queue. */
  async setPaused(name: string, paused: boolean): Promise<QueueView> {
    await guardDb(() => updateQueue(this.db, name, { paused }));
    return this.get(name);
  }

  /** Workers seen in the last hour: live first, silent and disconnected ones marked. */
  workers(): Promise<WorkerStatus[]> {
    return guardDb(() => listWorkers(this.db, WORKER_FRESH_MS, WORKER_HISTORY_MS));
  }

  private recent(): Promise<Map<string, QueueThroughput>> {
    const now = monotonicMs();
    if (!this.throughput || now - this.throughput.at > THROUGHPUT_CACHE_MS) {
      // Throughput is decoration: when it cannot be read, queues show none rather than fail
      // (a pause during an incident must still answer), and the failure is not cached.
      const entry = {
        at: now,
        value: recentThroughput(this.db, THROUGHPUT_WINDOW_S).catch(() => {
          if (this.throughput === entry) this.throughput = null;
          return new Map<string, QueueThroughput>();
        }),
      };
      this.throughput = entry;
    }
    return this.throughput.value;
  }
}
