import { EventEmitter } from 'node:events';
import type * as Graphile from 'graphile-worker';
import type { HandlerKind, TaskSpec } from '../types.js';
import type { HostConfig, OpenAdapter, PeerAdapter, WorkerHooks } from './protocol.js';
import { importLibrary } from './protocol.js';
import { countOf, harnessPool, inTransaction } from './sql.js';

/** The settings bench/systems/peers.ts gives graphile-worker (its perfTest's preset). */
interface GraphileSettings {
  concurrentJobs: number;
  maxPoolSize: number;
  localQueue: { size: number; refetchDelay: { durationMs: number } };
  completeJobBatchDelay: number;
  failJobBatchDelay: number;
  pollInterval: number;
  NO_LOG_SUCCESS: string;
}

/**
 * graphile-worker 0.17 or 0.18 (one API; the types are the project's 0.17). The main process
 * migrates the schema and adds jobs through WorkerUtils; worker processes run a runner with
 * the perfTest's preset.
 */
export const open: OpenAdapter = async (config) => {
  const lib = await importLibrary<typeof Graphile>(config.library, 'runMigrations');
  const settings = config.settings as unknown as GraphileSettings;
  process.env.NO_LOG_SUCCESS = settings.NO_LOG_SUCCESS;
  const logger = new lib.Logger(() => () => undefined);
  const common = { connectionString: config.url, schema: config.schema, logger };
  if (config.role === 'main') await lib.runMigrations(common);
  const utils = config.role === 'main' ? await lib.makeWorkerUtils(common) : null;
  return new GraphileAdapter(lib, config, settings, logger, utils);
};

class GraphileAdapter implements PeerAdapter {
  private runner: Graphile.Runner | null = null;
  private readonly pool;
  private readonly s: string;

  constructor(
    private readonly lib: typeof Graphile,
    private readonly config: HostConfig,
    private readonly settings: GraphileSettings,
    private readonly logger: Graphile.Logger,
    private readonly utils: Graphile.WorkerUtils | null,
  ) {
    this.pool = harnessPool(config.url);
    this.s = `"${config.schema}"`;
  }

  private workerUtils(): Graphile.WorkerUtils {
    if (!this.utils) throw new Error('adds go to the main process');
    return this.utils;
  }

  async addBulk(tasks: TaskSpec[]): Promise<void> {
    // addJobs is graphile-worker's own bulk insert (one add_jobs call).
    const jobs = await this.workerUtils().addJobs(
      tasks.map((t) => ({
        identifier: t.handler,
        payload: { i: t.i },
        ...(t.runAt === undefined ? {} : { runAt: new Date(t.runAt) }),
      })),
    );
    if (jobs.length !== tasks.length) throw new Error(`addJobs added ${jobs.length}`);
  }

  async addOne(task: TaskSpec): Promise<void> {
    await this.workerUtils().addJob(
      task.handler,
      { i: task.i },
      task.runAt === undefined ? {} : { runAt: new Date(task.runAt) },
    );
  }

  async loadBacklog(n: number): Promise<void> {
    await inTransaction(this.pool, async (c) => {
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

  async startWorkers(_kind: HandlerKind, hooks: WorkerHooks): Promise<void> {
    const events: Graphile.WorkerEvents = new EventEmitter();
    // job:complete fires once the job is handed to the completion batcher, which with a
    // batch delay of 0 writes it on the next tick: a few ms before the DELETE commits.
    events.on('job:complete', ({ error }: { error: unknown }) => {
      if (!error) hooks.completed();
    });
    // Ready means listening: a backlog that arrives before LISTEN is set up would otherwise
    // wait for the next poll (2 s).
    const listening = new Promise<void>((resolve, reject) => {
      events.once('pool:listen:success', () => resolve());
      setTimeout(
        () => reject(new Error('graphile-worker did not LISTEN within 10 s')),
        10_000,
      ).unref();
    });
    const { settings: st } = this;
    this.runner = await this.lib.run({
      preset: {
        worker: {
          connectionString: this.config.url,
          schema: this.config.schema,
          concurrentJobs: st.concurrentJobs,
          maxPoolSize: st.maxPoolSize,
          pollInterval: st.pollInterval,
          localQueue: st.localQueue,
          completeJobBatchDelay: st.completeJobBatchDelay,
          failJobBatchDelay: st.failJobBatchDelay,
        },
      },
      noHandleSignals: true,
      logger: this.logger,
      events,
      taskList: {
        noop: () => {
          hooks.handled(1);
        },
        stamp: (payload) => {
          hooks.started((payload as { i: number }).i, Date.now());
          hooks.handled(1);
        },
      },
    });
    await listening;
  }

  doneCount(): Promise<number | null> {
    return Promise.resolve(null);
  }

  unfinishedCount(): Promise<number> {
    return countOf(this.pool, `SELECT count(*)::int AS n FROM ${this.s}._private_jobs`);
  }

  completionTimes(): Promise<number[] | null> {
    return Promise.resolve(null);
  }

  async close(): Promise<void> {
    await this.runner?.stop();
    await this.utils?.release();
    await this.pool.end();
  }
}
