import type { HandlerKind, TaskSpec } from '../types.js';
import type { HostConfig, OpenAdapter, PeerAdapter, WorkerHooks } from './protocol.js';
import { importLibrary } from './protocol.js';
import { countOf, harnessPool, inTransaction } from './sql.js';

/** The settings bench/systems/peers.ts gives pg-boss. */
interface PgBossSettings {
  max: number;
  useListenNotify: boolean;
  queueNotify: boolean;
  batchSize: number;
  localConcurrency: number;
  burstWhenBatchFull: boolean;
  pollingIntervalSeconds: number;
  notifyPollingIntervalSeconds: number;
}

/** The part of pg-boss 12's API the bench uses (its types live in bench/peers only). */
interface PgBossInstance {
  on(event: 'error', fn: (err: Error) => void): void;
  start(): Promise<unknown>;
  stop(options: { graceful: boolean; timeout: number }): Promise<void>;
  createQueue(name: string, options: { notify: boolean }): Promise<void>;
  insert(
    name: string,
    jobs: Array<{ data: object; startAfter?: Date }>,
    options?: { db: { executeSql(text: string, values?: unknown[]): Promise<unknown> } },
  ): Promise<unknown>;
  send(name: string, data: object, options: { startAfter?: Date }): Promise<string | null>;
  work(
    name: string,
    options: Record<string, unknown>,
    handler: (jobs: Array<{ data: { i: number } }>) => Promise<void>,
  ): Promise<string>;
}

type PgBossClass = new (options: Record<string, unknown>) => PgBossInstance;

const QUEUES: HandlerKind[] = ['noop', 'stamp'];

/**
 * pg-boss 12. Queues are created (with `notify` on) by the main process; every process,
 * main and workers, runs one PgBoss instance with the defaults plus the settings given.
 * Completed jobs stay in the job table, so counts and completion times come from there.
 */
export const open: OpenAdapter = async (config) => {
  const { PgBoss } = await importLibrary<{ PgBoss: PgBossClass }>(config.library, 'PgBoss');
  const st = config.settings as unknown as PgBossSettings;
  const boss = new PgBoss({
    connectionString: config.url,
    schema: config.schema,
    max: st.max,
    useListenNotify: st.useListenNotify,
  });
  const adapter = new PgBossAdapter(boss, config, st);
  boss.on('error', (err) => adapter.recordError(err));
  await boss.start();
  if (config.role === 'main') {
    for (const q of QUEUES) await boss.createQueue(q, { notify: st.queueNotify });
  }
  return adapter;
};

class PgBossAdapter implements PeerAdapter {
  private readonly pool;
  private readonly s: string;
  private lastError: Error | undefined;

  constructor(
    private readonly boss: PgBossInstance,
    config: HostConfig,
    private readonly settings: PgBossSettings,
  ) {
    this.pool = harnessPool(config.url);
    this.s = `"${config.schema}"`;
  }

  recordError(err: Error): void {
    this.lastError = err;
  }

  async addBulk(tasks: TaskSpec[]): Promise<void> {
    const name = tasks[0]?.handler ?? 'noop';
    await this.boss.insert(name, tasks.map(toJob));
  }

  async addOne(task: TaskSpec): Promise<void> {
    const { data, startAfter } = toJob(task);
    const id = await this.boss.send(task.handler, data, startAfter ? { startAfter } : {});
    if (!id) throw new Error('pg-boss send returned no id');
  }

  async loadBacklog(n: number): Promise<void> {
    // pg-boss's own insert, inside one transaction through its `db` option, so the backlog
    // appears at once; then ANALYZE, as autovacuum soon would.
    await inTransaction(this.pool, async (c) => {
      const db = { executeSql: (text: string, values?: unknown[]) => c.query(text, values) };
      for (let from = 0; from < n; from += 10_000) {
        const size = Math.min(10_000, n - from);
        await this.boss.insert(
          'noop',
          Array.from({ length: size }, (_, k) => ({ data: { i: from + k } })),
          { db },
        );
      }
      await c.query(`ANALYZE ${this.s}.job`);
    });
  }

  async startWorkers(kind: HandlerKind, hooks: WorkerHooks): Promise<void> {
    const st = this.settings;
    await this.boss.work(
      kind,
      {
        batchSize: st.batchSize,
        localConcurrency: st.localConcurrency,
        burstWhenBatchFull: st.burstWhenBatchFull,
        pollingIntervalSeconds: st.pollingIntervalSeconds,
        notifyPollingIntervalSeconds: st.notifyPollingIntervalSeconds,
      },
      (jobs) => {
        if (kind === 'stamp') {
          const now = Date.now();
          for (const j of jobs) hooks.started(j.data.i, now);
        }
        hooks.handled(jobs.length);
        return Promise.resolve();
      },
    );
  }

  doneCount(): Promise<number | null> {
    return countOf(
      this.pool,
      `SELECT count(*)::int AS n FROM ${this.s}.job WHERE state = 'completed' AND name = ANY ($1::text[])`,
      [QUEUES],
    );
  }

  unfinishedCount(): Promise<number> {
    return countOf(
      this.pool,
      `SELECT count(*)::int AS n FROM ${this.s}.job
       WHERE state IN ('created', 'retry', 'active') AND name = ANY ($1::text[])`,
      [QUEUES],
    );
  }

  async completionTimes(): Promise<number[] | null> {
    const { rows } = await this.pool.query<{ t: number }>(
      `SELECT (extract(epoch FROM completed_on) * 1000)::float8 AS t
       FROM ${this.s}.job WHERE state = 'completed' AND name = ANY ($1::text[])
       ORDER BY completed_on`,
      [QUEUES],
    );
    return rows.map((r) => r.t);
  }

  async close(): Promise<void> {
    await this.boss.stop({ graceful: true, timeout: 10_000 });
    await this.pool.end();
    if (this.lastError) throw this.lastError;
  }
}

function toJob(t: TaskSpec): { data: { i: number }; startAfter?: Date } {
  return { data: { i: t.i }, ...(t.runAt === undefined ? {} : { startAfter: new Date(t.runAt) }) };
}
