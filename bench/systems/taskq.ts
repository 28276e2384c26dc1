import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { JsonClient } from '../lib/http.js';
import { dropSchema, inTransaction } from '../lib/database.js';
import { startTaskq, totalCpuMs, type BenchProcess } from '../lib/processes.js';
import type { QueueSession, SessionContext, SessionRoles, TaskSpec } from './types.js';

/**
 * How our side runs in the bench: worker processes over gRPC to one coordinator, with the
 * coordinator's defaults (pool 10, lease 5 s, heartbeat 1 s, poll 1 s). Two processes of 200
 * slots drained fastest on two cores among the shapes tried (1×200, 2×50, 2×200, 2×500;
 * see docs/performance.md): a claim takes at most the free slots, so more slots mean fewer,
 * larger claims. BENCH_TASKQ_WORKERS, BENCH_TASKQ_CONCURRENCY and BENCH_TASKQ_COORDINATORS
 * override them for tuning and for the scaling curve (`npm run bench:scaling`); with several
 * coordinators, worker i connects to coordinator i mod n.
 */
export const TASKQ_SETUP = {
  workers: envInt('BENCH_TASKQ_WORKERS', 2),
  concurrency: envInt('BENCH_TASKQ_CONCURRENCY', 200),
  coordinators: envInt('BENCH_TASKQ_COORDINATORS', 1),
};

const HANDLERS = fileURLToPath(new URL('../handlers.mjs', import.meta.url));

function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

/** Opens a taskq session: separate coordinator, scheduler and worker processes. */
export async function openTaskq(ctx: SessionContext, roles: SessionRoles): Promise<QueueSession> {
  const s = new TaskqSession(ctx, roles);
  try {
    await s.start();
  } catch (err) {
    await s.close();
    throw err;
  }
  return s;
}

class TaskqSession implements QueueSession {
  readonly system = 'taskq' as const;
  readonly datastore = 'postgres' as const;
  private readonly coordinators: BenchProcess[] = [];
  private readonly grpcPorts: number[] = [];
  private scheduler: BenchProcess | undefined;
  private api: JsonClient | undefined;
  private readonly workers: BenchProcess[] = [];
  private readonly env: Record<string, string>;
  private readonly s: string;

  constructor(
    private readonly ctx: SessionContext,
    private readonly roles: SessionRoles,
  ) {
    this.env = { DATABASE_URL: ctx.url, TASKQ_SCHEMA: ctx.schema };
    this.s = `"${ctx.schema}"`;
  }

  async start(): Promise<void> {
    const starting: Array<Promise<void>> = [];
    if (this.roles.producer) {
      this.scheduler = startTaskq('scheduler', ['scheduler', '--port', '0'], this.env);
      starting.push(
        this.scheduler.waitForMsg('scheduler started').then((l) => {
          this.api = new JsonClient(`http://127.0.0.1:${Number(l.httpPort)}`);
        }),
      );
    }
    // Coordinators run whenever tasks are consumed; they also create the schema (under an
    // advisory lock, so several may start at once).
    if (this.roles.workers) {
      for (let i = 0; i < TASKQ_SETUP.coordinators; i++) {
        const c = startTaskq(
          i === 0 ? 'coordinator' : `coordinator-${i + 1}`,
          ['coordinator', '--grpc-port', '0', '--http-port', '0'],
          this.env,
        );
        this.coordinators.push(c);
        starting.push(
          c.waitForMsg('coordinator started').then((l) => {
            this.grpcPorts[i] = Number(l.grpcPort);
          }),
        );
      }
    }
    await Promise.all(starting);
  }

  async startWorkers(): Promise<void> {
    if (this.coordinators.length === 0) throw new Error('this session has no workers role');
    for (let i = 0; i < TASKQ_SETUP.workers; i++) {
      this.workers.push(
        startTaskq(
          `worker-${i + 1}`,
          [
            'worker',
            '--coordinator',
            `127.0.0.1:${this.grpcPorts[i % this.grpcPorts.length]}`,
            '--concurrency',
            String(TASKQ_SETUP.concurrency),
            '--handlers',
            HANDLERS,
            '--name',
            `bench-${i + 1}`,
          ],
          this.env,
        ),
      );
    }
    await Promise.all(this.workers.map((w) => w.waitForMsg('connected')));
  }

  private client(): JsonClient {
    if (!this.api) throw new Error('this session has no producer role');
    return this.api;
  }

  async addBulk(tasks: TaskSpec[]): Promise<void> {
    const body = { tasks: tasks.map(toSubmit) };
    const out = await this.client().post<{ created: number }>('/v1/tasks/batch', body);
    if (out.created !== tasks.length) {
      throw new Error(`batch created ${out.created} of ${tasks.length} tasks`);
    }
  }

  async addOne(task: TaskSpec): Promise<void> {
    await this.client().post('/v1/tasks', toSubmit(task));
  }

  async loadBacklog(n: number): Promise<void> {
    await inTransaction(this.ctx.pool, (c) => insertTaskqBacklog(c, this.ctx.schema, n));
  }

  progressCount(): Promise<number> {
    return this.doneCount();
  }

  async doneCount(): Promise<number> {
    const { rows } = await this.ctx.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${this.s}.tasks WHERE status = 'succeeded'`,
    );
    return rows[0]?.n ?? 0;
  }

  async unfinishedCount(): Promise<number> {
    const { rows } = await this.ctx.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${this.s}.tasks WHERE status IN ('pending', 'running')`,
    );
    return rows[0]?.n ?? 0;
  }

  async completionTimes(): Promise<number[]> {
    const { rows } = await this.ctx.pool.query<{ t: number }>(
      `SELECT (extract(epoch FROM completed_at) * 1000)::float8 AS t
       FROM ${this.s}.tasks WHERE status = 'succeeded' ORDER BY completed_at`,
    );
    return rows.map((r) => r.t);
  }

  async handlerStarts(): Promise<Map<number, number>> {
    const { rows } = await this.ctx.pool.query<{ i: number; t: string }>(
      `SELECT (payload->>'i')::int AS i, result::text AS t
       FROM ${this.s}.tasks WHERE status = 'succeeded' AND handler = 'stamp'`,
    );
    return new Map(rows.map((r) => [r.i, Number(r.t)]));
  }

  clientCpuMs(): number | null {
    return totalCpuMs([...this.coordinators, this.scheduler, ...this.workers]);
  }

  clientCpuMsByProcess(): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    for (const p of [...this.coordinators, this.scheduler, ...this.workers]) {
      if (p) out[p.name] = p.cpuMs();
    }
    return out;
  }

  dispatcherRss(): number | null {
    return this.coordinators[0]?.rssBytes() ?? null;
  }

  async close(): Promise<void> {
    this.api?.close();
    await Promise.all(this.workers.map((w) => w.stop()));
    await Promise.all([...this.coordinators.map((c) => c.stop()), this.scheduler?.stop()]);
    await dropSchema(this.ctx.pool, this.ctx.schema);
  }
}

function toSubmit(t: TaskSpec): { command: string; payload: { i: number }; run_at?: string } {
  return {
    command: t.handler,
    payload: { i: t.i },
    ...(t.runAt === undefined ? {} : { run_at: new Date(t.runAt).toISOString() }),
  };
}

/**
 * Inserts `n` due `noop` tasks into a taskq schema with one INSERT ... SELECT
 * generate_series, and queues the wake-up the API's insert sends (delivered at commit).
 * Run it inside a transaction so the backlog appears at once.
 */
export async function insertTaskqBacklog(
  client: pg.ClientBase,
  schema: string,
  n: number,
): Promise<void> {
  // uuid v7 ids: the time prefix, then the row number in the "random" bits so that ids (the
  // claim's last tie-break) follow insertion order as the API's ids do.
  await client.query(
    `INSERT INTO "${schema}".tasks (id, queue, command, handler, payload, scheduled_at)
     SELECT (lpad(to_hex($2::bigint), 12, '0') || '7' || lpad(to_hex((g >> 16) & 4095), 3, '0')
             || '8' || lpad(to_hex(g & 65535), 4, '0') || substr(md5(g::text), 1, 11))::uuid,
            'default', 'noop', 'noop', NULL, now()
     FROM generate_series(1, $1::int) AS g`,
    [n, Date.now()],
  );
  await client.query(`ANALYZE "${schema}".tasks`);
  // Channel <schema>_wake, payload <due ms>:<queue>. Without it coordinators still find the
  // tasks on their 1 s poll.
  await client.query(
    `SELECT pg_notify($1, (extract(epoch FROM now()) * 1000)::bigint || ':default')`,
    [`${schema}_wake`],
  );
}
