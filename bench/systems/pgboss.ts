import PgBoss from 'pg-boss';
import pg from 'pg';
import { ownCpuMs } from '../lib/cpu.js';
import { dropSchema, inTransaction } from '../lib/database.js';
import { sleep } from '../lib/timing.js';
import type { HandlerKind, QueueSession, SessionContext, SessionRoles, TaskSpec } from './types.js';

/**
 * pg-boss 10 as the benchmark issue sets it: work() with batchSize 500 on 8 workers. The
 * polling interval is the smallest pg-boss accepts (0.5 s; the default is 2 s), since
 * pg-boss 10 workers poll and are not woken by inserts. Everything else is pg-boss's
 * default (pool of 10, maintenance and monitoring on).
 */
export const PGBOSS_SETUP = {
  workers: 8,
  batchSize: 500,
  pollingIntervalSeconds: 0.5,
};

const QUEUES: HandlerKind[] = ['noop', 'stamp'];

/** Opens a pg-boss session: one PgBoss instance in this process, its schema created. */
export async function openPgBoss(ctx: SessionContext, roles: SessionRoles): Promise<QueueSession> {
  // pg-boss's own pool, made here (same size, 10) so that it outlives stop(): pg-boss closes
  // its pool while a worker's fetch can still be queued for a client, and pg-pool never
  // settles a queued request once ending, which leaves pg-boss waiting for that worker forever.
  const pool = new pg.Pool({ connectionString: ctx.url, max: 10, application_name: 'pgboss' });
  pool.on('error', () => undefined);
  const gate = { closed: false };
  const boss = new PgBoss({
    schema: ctx.schema,
    db: {
      // Once closing, pg-boss's stragglers (a last fetch, a fire-and-forget complete) get
      // what pg-boss's own closed Db gives them, no result, instead of an ended pool.
      executeSql: (text: string, values?: unknown[]) =>
        gate.closed
          ? (Promise.resolve(undefined) as unknown as Promise<{ rows: unknown[] }>)
          : pool.query(text, values),
    },
  });
  const session = new PgBossSession(ctx, roles, boss, pool, gate);
  boss.on('error', (err: Error) => session.recordError(err));
  await boss.start();
  for (const q of QUEUES) await boss.createQueue(q);
  return session;
}

class PgBossSession implements QueueSession {
  readonly system = 'pg-boss' as const;
  private handled = 0;
  private readonly starts = new Map<number, number>();
  private readonly s: string;
  private lastError: Error | undefined;

  constructor(
    private readonly ctx: SessionContext,
    private readonly roles: SessionRoles,
    private readonly boss: PgBoss,
    private readonly pool: pg.Pool,
    private readonly gate: { closed: boolean },
  ) {
    this.s = `"${ctx.schema}"`;
  }

  recordError(err: Error): void {
    this.lastError = err;
  }

  async startWorkers(): Promise<void> {
    const kind = this.roles.workers;
    if (!kind) throw new Error('this session has no workers role');
    for (let i = 0; i < PGBOSS_SETUP.workers; i++) {
      await this.boss.work<{ i: number }>(
        kind,
        {
          batchSize: PGBOSS_SETUP.batchSize,
          pollingIntervalSeconds: PGBOSS_SETUP.pollingIntervalSeconds,
        },
        (jobs) => {
          if (kind === 'stamp') {
            const now = Date.now();
            for (const j of jobs) this.starts.set(j.data.i, now);
          }
          this.handled += jobs.length;
          return Promise.resolve();
        },
      );
    }
  }

  async addBulk(tasks: TaskSpec[]): Promise<void> {
    await this.boss.insert(
      tasks.map((t) => ({
        name: t.handler,
        data: { i: t.i },
        ...(t.runAt === undefined ? {} : { startAfter: new Date(t.runAt) }),
      })),
    );
  }

  async addOne(task: TaskSpec): Promise<void> {
    const id = await this.boss.send(
      task.handler,
      { i: task.i },
      task.runAt === undefined ? {} : { startAfter: new Date(task.runAt) },
    );
    if (!id) throw new Error('pg-boss send returned no id');
  }

  async loadBacklog(n: number): Promise<void> {
    // Column defaults are what insert() would write with pg-boss's default options.
    await inTransaction(this.ctx.pool, async (c) => {
      await c.query(
        `INSERT INTO ${this.s}.job (name, data, policy)
         SELECT q.name, '{}'::jsonb, q.policy
         FROM ${this.s}.queue q, generate_series(1, $2::int)
         WHERE q.name = $1`,
        ['noop', n],
      );
      await c.query(`ANALYZE ${this.s}.job`);
    });
  }

  progressCount(): Promise<number> {
    return Promise.resolve(this.handled);
  }

  async doneCount(): Promise<number> {
    const { rows } = await this.ctx.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${this.s}.job
       WHERE state = 'completed' AND name = ANY ($1::text[])`,
      [QUEUES],
    );
    return rows[0]?.n ?? 0;
  }

  async unfinishedCount(): Promise<number> {
    const { rows } = await this.ctx.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${this.s}.job
       WHERE state IN ('created', 'retry', 'active') AND name = ANY ($1::text[])`,
      [QUEUES],
    );
    return rows[0]?.n ?? 0;
  }

  async completionTimes(): Promise<number[]> {
    const { rows } = await this.ctx.pool.query<{ t: number }>(
      `SELECT (extract(epoch FROM completed_on) * 1000)::float8 AS t
       FROM ${this.s}.job WHERE state = 'completed' AND name = ANY ($1::text[])
       ORDER BY completed_on`,
      [QUEUES],
    );
    return rows.map((r) => r.t);
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
    if (this.roles.workers) await this.boss.offWork(this.roles.workers);
    await this.boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    // Completions are fire-and-forget in pg-boss: let those in flight land, then close.
    this.gate.closed = true;
    const deadline = Date.now() + 10_000;
    while (this.pool.waitingCount > 0 || this.pool.idleCount < this.pool.totalCount) {
      if (Date.now() > deadline) break;
      await sleep(50);
    }
    await this.pool.end();
    await dropSchema(this.ctx.pool, this.ctx.schema);
    if (this.lastError) throw this.lastError;
  }
}
