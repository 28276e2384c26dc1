import { EventEmitter } from 'node:events';
import {
  Logger,
  makeWorkerUtils,
  run,
  runMigrations,
  type Runner,
  type TaskList,
  type WorkerEvents,
  type WorkerUtils,
} from 'graphile-worker';
import pg from 'pg';
import { ownCpuMs } from '../lib/cpu.js';
import { dropSchema, inTransaction } from '../lib/database.js';
import type { QueueSession, SessionContext, SessionRoles, TaskSpec } from './types.js';

/**
 * graphile-worker 0.16.6 as its own perfTest configures it: 24 concurrent jobs and a pool of
 * 25. The perfTest's newer options (localQueue size 500, completeJobBatchDelay 0,
 * failJobBatchDelay 0) arrived in 0.17 and do not exist in 0.16.6, so they are absent:
 * each job is fetched and completed with its own statement. NO_LOG_SUCCESS=1, as in the
 * perfTest, skips the per-job success log line.
 */
export const GRAPHILE_SETUP = {
  concurrentJobs: 24,
  maxPoolSize: 25,
  pollInterval: 2000,
};

const silent = new Logger(() => () => undefined);

/** Opens a graphile-worker session: migrations, WorkerUtils, and an in-process runner. */
export async function openGraphile(
  ctx: SessionContext,
  _roles: SessionRoles,
): Promise<QueueSession> {
  process.env.NO_LOG_SUCCESS = '1';
  await runMigrations({ connectionString: ctx.url, schema: ctx.schema, logger: silent });
  const utils = await makeWorkerUtils({
    connectionString: ctx.url,
    schema: ctx.schema,
    logger: silent,
  });
  return new GraphileSession(ctx, utils);
}

class GraphileSession implements QueueSession {
  readonly system = 'graphile-worker' as const;
  private runner: Runner | undefined;
  private readonly completed: number[] = [];
  private readonly starts = new Map<number, number>();
  private readonly s: string;
  /** The bulk path runs add_jobs on a pool the size of WorkerUtils' default. */
  private readonly bulkPool: pg.Pool;

  constructor(
    private readonly ctx: SessionContext,
    private readonly utils: WorkerUtils,
  ) {
    this.s = `"${ctx.schema}"`;
    this.bulkPool = new pg.Pool({ connectionString: ctx.url, max: 10 });
  }

  async startWorkers(): Promise<void> {
    const events: WorkerEvents = new EventEmitter();
    // job:complete fires after the job's row is deleted (committed): done in the database.
    events.on('job:complete', ({ error }: { error: unknown }) => {
      if (!error) this.completed.push(Date.now());
    });
    const taskList: TaskList = {
      noop: () => undefined,
      stamp: (payload) => {
        this.starts.set((payload as { i: number }).i, Date.now());
      },
    };
    this.runner = await run({
      connectionString: this.ctx.url,
      schema: this.ctx.schema,
      concurrency: GRAPHILE_SETUP.concurrentJobs,
      maxPoolSize: GRAPHILE_SETUP.maxPoolSize,
      pollInterval: GRAPHILE_SETUP.pollInterval,
      noHandleSignals: true,
      logger: silent,
      events,
      taskList,
    });
  }

  async addBulk(tasks: TaskSpec[]): Promise<void> {
    // add_jobs(job_spec[]) is graphile-worker's own bulk insert (0.16 has no JS addJobs).
    const specs = tasks.map((t) => ({
      identifier: t.handler,
      payload: { i: t.i },
      run_at: t.runAt === undefined ? null : new Date(t.runAt).toISOString(),
    }));
    const { rows } = await this.bulkPool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${this.s}.add_jobs(
         ARRAY(SELECT json_populate_record(null::${this.s}.job_spec, x)
               FROM json_array_elements($1::json) AS x))`,
      [JSON.stringify(specs)],
    );
    if (rows[0]?.n !== tasks.length)
      throw new Error(`add_jobs added ${rows[0]?.n} of ${tasks.length}`);
  }

  async addOne(task: TaskSpec): Promise<void> {
    await this.utils.addJob(
      task.handler,
      { i: task.i },
      task.runAt === undefined ? {} : { runAt: new Date(task.runAt) },
    );
  }

  async loadBacklog(n: number): Promise<void> {
    await inTransaction(this.ctx.pool, async (c) => {
      for (let left = n; left > 0; left -= 100_000) {
        await c.query(
          `SELECT count(*) FROM ${this.s}.add_jobs(ARRAY(
             SELECT ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::${this.s}.job_spec
             FROM generate_series(1, $1::int)))`,
          [Math.min(left, 100_000)],
        );
      }
      await c.query(`ANALYZE ${this.s}._private_jobs`);
    });
  }

  progressCount(): Promise<number> {
    return this.doneCount();
  }

  doneCount(): Promise<number> {
    return Promise.resolve(this.completed.length);
  }

  async unfinishedCount(): Promise<number> {
    const { rows } = await this.ctx.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${this.s}._private_jobs`,
    );
    return rows[0]?.n ?? 0;
  }

  completionTimes(): Promise<number[]> {
    return Promise.resolve([...this.completed].sort((a, b) => a - b));
  }

  handlerStarts(): Promise<Map<number, number>> {
    return Promise.resolve(new Map(this.starts));
  }

  clientCpuMs(): number | null {
    return ownCpuMs();
  }

  dispatcherRss(): number | null {
    return null;
  }

  async close(): Promise<void> {
    await this.runner?.stop();
    await this.utils.release();
    await this.bulkPool.end();
    await dropSchema(this.ctx.pool, this.ctx.schema);
  }
}
