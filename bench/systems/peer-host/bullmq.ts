import { createRequire } from 'node:module';
import type * as BullMQ from 'bullmq';
import { RATE_LIMIT } from '../features.js';
import type { HandlerKind, TaskSpec } from '../types.js';
import type { HostConfig, OpenAdapter, PeerAdapter, StoredJoin, WorkerHooks } from './protocol.js';
import { importLibrary } from './protocol.js';
import { harnessPool } from './sql.js';

/** The settings bench/systems/peers.ts gives BullMQ. */
interface BullMQSettings {
  concurrency: number;
  removeOnComplete: boolean;
  /** PostgreSQL backend: the pool size of each process. */
  max?: number;
}

/** The part of ioredis the bench uses (ioredis lives in bench/peers). */
interface RedisClient {
  scan(cursor: string, ...args: Array<string | number>): Promise<[string, string[]]>;
  unlink(...keys: string[]): Promise<number>;
  quit(): Promise<unknown>;
}
type RedisClass = new (url: string, options: { maxRetriesPerRequest: null }) => RedisClient;

const QUEUES: HandlerKind[] = ['noop', 'stamp', 'fanout'];

/** A fan-out parent's data: how many children, and whether it already spawned them. */
interface FanoutData {
  n: number;
  step?: 'waiting';
}

/**
 * BullMQ 6 on Redis or on PostgreSQL (its `createPostgresBackend`): the same Queue and Worker
 * API on either. The main process migrates the PostgreSQL schema and adds jobs; worker
 * processes run one Worker each. Completed jobs are kept, so counts come from the datastore;
 * completion times from the workers' `completed` events, which fire once the datastore has
 * stored the completion.
 */
export const open: OpenAdapter = async (config) => {
  const lib = await importLibrary<typeof BullMQ>(config.library, 'Queue');
  const st = config.settings as unknown as BullMQSettings;
  let redis: RedisClass | null = null;
  if (config.backend === 'redis') {
    if (!config.ioredis || !config.redisUrl) throw new Error('BullMQ on Redis needs ioredis');
    redis = createRequire(config.ioredis)(config.ioredis) as RedisClass;
  } else if (config.role === 'main') {
    const pool = harnessPool(config.url);
    const client = await pool.connect();
    try {
      await lib.runMigrations(client, config.schema);
    } finally {
      client.release();
      await pool.end();
    }
  }
  return new BullMQAdapter(lib, config, st, redis);
};

class BullMQAdapter implements PeerAdapter {
  private readonly queues = new Map<HandlerKind, BullMQ.Queue>();
  private readonly workers: BullMQ.Worker[] = [];
  private readonly clients: RedisClient[] = [];

  constructor(
    private readonly lib: typeof BullMQ,
    private readonly config: HostConfig,
    private readonly settings: BullMQSettings,
    private readonly redis: RedisClass | null,
  ) {}

  /** Options for a Queue or Worker: a Redis connection of its own, or the PostgreSQL pool. */
  private options(): { connection: never; prefix?: string } {
    if (this.redis) {
      const client = new this.redis(this.config.redisUrl ?? '', { maxRetriesPerRequest: null });
      this.clients.push(client);
      return { connection: client as never, prefix: this.config.schema };
    }
    return {
      connection: {
        connectionString: this.config.url,
        schema: this.config.schema,
        ...(this.settings.max === undefined ? {} : { max: this.settings.max }),
      } as never,
    };
  }

  private backend(): never {
    return (this.redis ? undefined : this.lib.createPostgresBackend) as never;
  }

  private queue(kind: HandlerKind): BullMQ.Queue {
    let q = this.queues.get(kind);
    if (!q) {
      q = new this.lib.Queue(kind, this.options(), this.backend());
      this.queues.set(kind, q);
    }
    return q;
  }

  private jobOptions(t: TaskSpec): BullMQ.JobsOptions {
    return {
      removeOnComplete: this.settings.removeOnComplete,
      ...(t.runAt === undefined ? {} : { delay: Math.max(0, t.runAt - Date.now()) }),
    };
  }

  async addBulk(tasks: TaskSpec[]): Promise<void> {
    const kind = tasks[0]?.handler ?? 'noop';
    await this.queue(kind).addBulk(
      tasks.map((t) => ({ name: kind, data: { i: t.i }, opts: this.jobOptions(t) })),
    );
  }

  async addOne(task: TaskSpec): Promise<void> {
    await this.queue(task.handler).add(task.handler, { i: task.i }, this.jobOptions(task));
  }

  async loadBacklog(n: number): Promise<void> {
    // Paused while it fills, so that the whole backlog is there when workers see it.
    const q = this.queue('noop');
    await q.pause();
    for (let from = 0; from < n; from += 10_000) {
      const size = Math.min(10_000, n - from);
      await q.addBulk(
        Array.from({ length: size }, (_, k) => ({
          name: 'noop',
          data: { i: from + k },
          opts: { removeOnComplete: this.settings.removeOnComplete },
        })),
      );
    }
    if (!this.redis) {
      const pool = harnessPool(this.config.url);
      await pool.query(`ANALYZE "${this.config.schema}".job`).finally(() => pool.end());
    }
    await q.resume();
  }

  async startWorkers(kind: HandlerKind, hooks: WorkerHooks): Promise<void> {
    if (kind === 'dag') throw new Error('BullMQ flows are trees: no DAG here');
    if (kind === 'fanout') {
      // The children are no-op jobs of their own queue; the parents' completions are not
      // counted as the children's. A child's completion counts at its stored finishedOn: the
      // parent can be resumed before the last child's event reaches its worker.
      await this.startWorker('noop', hooks, () => Promise.resolve(null), true);
      await this.startWorker('fanout', null, (job, token) =>
        this.fanoutParent(job as BullMQ.Job<FanoutData>, token, hooks),
      );
      return;
    }
    await this.startWorker(kind, hooks, (job: BullMQ.Job<{ i: number }>) => {
      if (kind === 'stamp') hooks.started(job.data.i, Date.now());
      hooks.handled(1);
      return Promise.resolve(null);
    });
  }

  private async startWorker(
    queue: HandlerKind,
    hooks: WorkerHooks | null,
    processor: (job: BullMQ.Job, token?: string) => Promise<unknown>,
    storedFinish = false,
  ): Promise<void> {
    const worker = new this.lib.Worker(
      queue,
      processor,
      { ...this.options(), concurrency: this.settings.concurrency, ...this.limiter() },
      this.backend(),
    );
    if (hooks) {
      worker.on('completed', (job) => hooks.completed(storedFinish ? job.finishedOn : undefined));
    }
    worker.on('error', (err) => process.stderr.write(`worker error: ${String(err)}\n`));
    this.workers.push(worker);
    await worker.waitUntilReady();
  }

  /**
   * A rate-limited drain's worker option (guide/rate-limiting): the limit is the queue's,
   * shared by every worker that sets it.
   */
  private limiter(): { limiter?: BullMQ.RateLimiterOptions } {
    if (this.config.variant !== 'ratelimited') return {};
    return { limiter: { max: RATE_LIMIT.count, duration: RATE_LIMIT.periodMs } };
  }

  /**
   * A parent that spawns no-op children and waits for them, as BullMQ's "Waiting Children"
   * pattern does it (patterns/process-step-jobs): add the children with `parent`, remember the
   * step in the job's data, move to waiting-children and throw WaitingChildrenError. Resumed
   * once every child completed, it reads their values and says when it had them.
   */
  private async fanoutParent(
    job: BullMQ.Job<FanoutData>,
    token: string | undefined,
    hooks: WorkerHooks,
  ): Promise<{ startedAt: number; seen: number }> {
    const resume = async (): Promise<{ startedAt: number; seen: number }> => {
      const values = (await job.getChildrenValues()) ?? {};
      return { startedAt: Date.now(), seen: Object.keys(values).length };
    };
    if (job.data.step === 'waiting') return resume();
    const parent = { id: job.id ?? '', queue: job.queueQualifiedName };
    await this.queue('noop').addBulk(
      Array.from({ length: job.data.n }, (_, i) => ({
        name: 'noop',
        data: { i },
        opts: { parent, removeOnComplete: this.settings.removeOnComplete },
      })),
    );
    hooks.mark(`released:${job.id ?? ''}`, Date.now());
    await job.updateData({ ...job.data, step: 'waiting' });
    if (await job.moveToWaitingChildren(token ?? '')) throw new this.lib.WaitingChildrenError();
    return resume();
  }

  async submitFanout(children: number): Promise<string> {
    const job = await this.queue('fanout').add(
      'fanout',
      { n: children },
      { removeOnComplete: this.settings.removeOnComplete },
    );
    if (!job.id) throw new Error('BullMQ gave the parent no id');
    return job.id;
  }

  async fanoutTimeline(id: string): Promise<StoredJoin | null> {
    const job = await this.lib.Job.fromId<FanoutData, { startedAt: number; seen: number }>(
      this.queue('fanout'),
      id,
    );
    if (!job) throw new Error(`no fan-out parent ${id}`);
    const state = await job.getState();
    if (state === 'failed') throw new Error(`fan-out parent ${id} failed: ${job.failedReason}`);
    if (state !== 'completed' || job.finishedOn === undefined) return null;
    return {
      doneAt: job.finishedOn,
      // The start of its last run: the resumed one.
      claimedAt: job.processedOn ?? null,
      releasedAt: null,
      firstStart: null,
      lastDone: null,
      done: null,
      result: job.returnvalue,
    };
  }

  async doneCount(): Promise<number | null> {
    let n = 0;
    for (const kind of QUEUES) n += await this.queue(kind).getJobCountByTypes('completed');
    return n;
  }

  async unfinishedCount(): Promise<number> {
    let n = 0;
    for (const kind of QUEUES) {
      n += await this.queue(kind).getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized');
    }
    return n;
  }

  completionTimes(): Promise<number[] | null> {
    return Promise.resolve(null);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    if (this.redis && this.config.role === 'main') await this.deleteKeys();
    await Promise.all(this.clients.map((c) => c.quit().catch(() => undefined)));
  }

  /** Redis has no schema to drop: the session's keys go by their prefix. */
  private async deleteKeys(): Promise<void> {
    const client = new (this.redis as RedisClass)(this.config.redisUrl ?? '', {
      maxRetriesPerRequest: null,
    });
    this.clients.push(client);
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(
        cursor,
        'MATCH',
        `${this.config.schema}:*`,
        'COUNT',
        1000,
      );
      if (keys.length > 0) await client.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
}
