import { PGBOSS_FLOW_INTERVAL_SECONDS } from '../features.js';
import type { HandlerKind, TaskSpec, TimelineColumns } from '../types.js';
import type { HostConfig, OpenAdapter, PeerAdapter, StoredJoin, WorkerHooks } from './protocol.js';
import { importLibrary } from './protocol.js';
import { countOf, epochMs as t, harnessPool, inTransaction } from './sql.js';

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
  flow(
    jobs: Array<{ ref: string; name: string; data?: object; dependsOn?: string[] }>,
  ): Promise<Record<string, string>>;
  work(
    name: string,
    options: Record<string, unknown>,
    handler: (jobs: Array<{ data: { i: number; dag?: string } }>) => Promise<void>,
  ): Promise<string>;
}

type PgBossClass = new (options: Record<string, unknown>) => PgBossInstance;

/** Queues, by the handler their jobs run; a DAG's join has a queue of its own. */
const QUEUES: Array<HandlerKind | 'join'> = ['noop', 'stamp', 'join'];

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
    // Dependents are unblocked by a background resolver, every flowIntervalSeconds.
    ...(config.kind === 'dag' ? { flowIntervalSeconds: PGBOSS_FLOW_INTERVAL_SECONDS } : {}),
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
  /** Each DAG submitted, by the id the bench knows it by: its jobs' ids by ref. */
  private readonly dags = new Map<string, Record<string, string>>();

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
    if (kind === 'fanout') throw new Error('pg-boss jobs cannot wait for jobs they add');
    for (const queue of kind === 'dag' ? (['noop', 'join'] as const) : [kind]) {
      await this.work(queue, hooks);
    }
  }

  private async work(queue: HandlerKind | 'join', hooks: WorkerHooks): Promise<void> {
    const st = this.settings;
    await this.boss.work(
      queue,
      {
        batchSize: st.batchSize,
        localConcurrency: st.localConcurrency,
        burstWhenBatchFull: st.burstWhenBatchFull,
        pollingIntervalSeconds: st.pollingIntervalSeconds,
        notifyPollingIntervalSeconds: st.notifyPollingIntervalSeconds,
      },
      (jobs) => {
        const now = Date.now();
        if (queue === 'stamp') for (const j of jobs) hooks.started(j.data.i, now);
        if (queue === 'join') for (const j of jobs) hooks.mark(`join:${j.data.dag ?? ''}`, now);
        hooks.handled(jobs.length);
        return Promise.resolve();
      },
    );
  }

  async submitDag(nodes: number): Promise<string> {
    const dag = `dag${this.dags.size + 1}`;
    const keys = Array.from({ length: nodes }, (_, i) => `n${i}`);
    const ids = await this.boss.flow([
      { ref: 'root', name: 'noop', data: { i: -1 } },
      ...keys.map((ref, i) => ({ ref, name: 'noop', data: { i }, dependsOn: ['root'] })),
      { ref: 'join', name: 'join', data: { i: -1, dag }, dependsOn: keys },
    ]);
    this.dags.set(dag, ids);
    return dag;
  }

  async dagTimeline(dag: string): Promise<StoredJoin | null> {
    const ids = this.dags.get(dag);
    if (!ids?.root || !ids.join) throw new Error(`no DAG ${dag}`);
    const nodes = Object.entries(ids)
      .filter(([ref]) => ref !== 'root' && ref !== 'join')
      .map(([, id]) => id);
    // Params: $1 root id, $2 node ids, $3 join id
    const { rows } = await this.pool.query<TimelineColumns & { join_state: string | null }>(
      `SELECT max(state::text) FILTER (WHERE id = $3) AS join_state,
              ${t('max(completed_on) FILTER (WHERE id = $3)')} AS done_at,
              ${t('max(started_on) FILTER (WHERE id = $3)')} AS claimed_at,
              ${t('max(completed_on) FILTER (WHERE id = $1)')} AS released_at,
              ${t('min(started_on) FILTER (WHERE id = ANY ($2::uuid[]))')} AS first_start,
              ${t('max(completed_on) FILTER (WHERE id = ANY ($2::uuid[]))')} AS last_done,
              count(*) FILTER (WHERE id = ANY ($2::uuid[]) AND state = 'completed')::int AS done
       FROM ${this.s}.job WHERE id = ANY ($2::uuid[] || ARRAY[$1::uuid, $3::uuid])`,
      [ids.root, nodes, ids.join],
    );
    const r = rows[0];
    if (!r || r.join_state === null) throw new Error(`DAG ${dag}: no join job`);
    if (r.join_state === 'failed' || r.join_state === 'cancelled') {
      throw new Error(`DAG ${dag}: join ${r.join_state}`);
    }
    if (r.join_state !== 'completed' || r.done_at === null) return null;
    return {
      doneAt: r.done_at,
      claimedAt: r.claimed_at,
      releasedAt: r.released_at,
      firstStart: r.first_start,
      lastDone: r.last_done,
      done: r.done,
      // The join is handed no outputs; its start is the worker's mark.
      result: null,
    };
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
