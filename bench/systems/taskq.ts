import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { JsonClient } from '../lib/http.js';
import { analyzeSchema, dropSchema, epochMs as ms, inTransaction } from '../lib/database.js';
import { startTaskq, totalCpuMs, type BenchProcess } from '../lib/processes.js';
import { GROUPS, RATE_LIMIT, ROUTE_LABEL } from './features.js';
import type {
  DrainVariant,
  JoinTimeline,
  QueueSession,
  SessionContext,
  SessionRoles,
  TaskSpec,
  TimelineColumns,
} from './types.js';

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
  /** The first coordinator's REST port (the same API as the scheduler's). */
  private coordinatorHttpPort: number | undefined;
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
            if (i === 0) this.coordinatorHttpPort = Number(l.httpPort);
          }),
        );
      }
    }
    await Promise.all(starting);
    if (this.variant === 'ratelimited') await this.setRateLimit();
  }

  /** Sets the drain queue's rate limit as an operator would: PUT /v1/queues/default. */
  private async setRateLimit(): Promise<void> {
    if (this.coordinatorHttpPort === undefined) throw new Error('a rate limit needs workers');
    const api = new JsonClient(`http://127.0.0.1:${this.coordinatorHttpPort}`);
    try {
      const q = await api.put<{ rate_limit: { count: number } | null }>('/v1/queues/default', {
        rate_limit: { count: RATE_LIMIT.count, period_ms: RATE_LIMIT.periodMs },
      });
      if (q.rate_limit?.count !== RATE_LIMIT.count) {
        throw new Error(`the queue's rate limit did not take: ${JSON.stringify(q)}`);
      }
    } finally {
      api.close();
    }
  }

  private get variant(): DrainVariant {
    return this.roles.variant ?? 'plain';
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
            ...(this.variant === 'routed'
              ? Object.entries(ROUTE_LABEL).flatMap(([k, v]) => ['--label', `${k}=${v}`])
              : []),
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
    await inTransaction(this.ctx.pool, (c) =>
      insertTaskqBacklog(c, this.ctx.schema, n, this.variant),
    );
  }

  analyze(): Promise<void> {
    return analyzeSchema(this.ctx.pool, this.ctx.schema);
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

  async submitFanout(children: number): Promise<string> {
    const out = await this.client().post<{ id: string }>('/v1/tasks', {
      command: 'fanout',
      payload: { n: children },
    });
    return out.id;
  }

  async fanoutTimeline(id: string): Promise<JoinTimeline | null> {
    // The parent's first attempt ended 'waiting' when its children were stored (in the same
    // transaction); its last attempt is the resumed one, whose result the fanout handler
    // fills (bench/handlers.mjs).
    const { rows } = await this.ctx.pool.query<TimelineRow>(
      `SELECT p.status, ${ms('p.completed_at')} AS done_at, ${ms('p.picked_at')} AS claimed_at,
              p.result,
              (SELECT ${ms('a.finished_at')} FROM ${this.s}.task_attempts a
               WHERE a.task_id = p.id AND a.outcome = 'waiting' ORDER BY a.attempt LIMIT 1)
                AS released_at,
              c.first_start, c.last_done, c.done
       FROM ${this.s}.tasks p,
            LATERAL (SELECT ${ms('min(started_at)')} AS first_start,
                            ${ms('max(completed_at)')} AS last_done,
                            count(*) FILTER (WHERE status = 'succeeded')::int AS done
                     FROM ${this.s}.tasks WHERE parent_id = p.id) c
       WHERE p.id = $1`,
      [id],
    );
    return timeline(rows[0], 'fanout', id, (r) => r.succeeded);
  }

  async submitDag(nodes: number): Promise<string> {
    const keys = Array.from({ length: nodes }, (_, i) => `n${i}`);
    const out = await this.client().post<{ id: string }>('/v1/workflows', {
      tasks: [
        { key: 'root', command: 'noop' },
        ...keys.map((key) => ({ key, command: 'noop', depends_on: ['root'] })),
        { key: 'join', command: 'join', depends_on: keys },
      ],
    });
    return out.id;
  }

  async dagTimeline(id: string): Promise<JoinTimeline | null> {
    const { rows } = await this.ctx.pool.query<TimelineRow>(
      `SELECT j.status, ${ms('j.completed_at')} AS done_at, ${ms('j.picked_at')} AS claimed_at,
              j.result, n.released_at, n.first_start, n.last_done, n.done
       FROM ${this.s}.tasks j,
            LATERAL (SELECT ${ms(`max(completed_at) FILTER (WHERE workflow_key = 'root')`)}
                              AS released_at,
                            ${ms(`min(started_at) FILTER (WHERE workflow_key NOT IN ('root', 'join'))`)}
                              AS first_start,
                            ${ms(`max(completed_at) FILTER (WHERE workflow_key NOT IN ('root', 'join'))`)}
                              AS last_done,
                            count(*) FILTER (WHERE workflow_key NOT IN ('root', 'join')
                                               AND status = 'succeeded')::int AS done
                     FROM ${this.s}.tasks WHERE workflow_id = $1) n
       WHERE j.workflow_id = $1 AND j.workflow_key = 'join'`,
      [id],
    );
    return timeline(rows[0], 'DAG', id, (r) => r.parents);
  }

  async close(): Promise<void> {
    this.api?.close();
    await Promise.all(this.workers.map((w) => w.stop()));
    await Promise.all([...this.coordinators.map((c) => c.stop()), this.scheduler?.stop()]);
    await dropSchema(this.ctx.pool, this.ctx.schema);
  }
}

interface TimelineRow extends TimelineColumns {
  status: string;
  /** What the join handlers return (bench/handlers.mjs). */
  result: { startedAt: number; succeeded?: number; parents?: number } | null;
}

/**
 * A join's timeline from its row, or null while it has not succeeded.
 * @throws Error when the join ended otherwise, or a time is missing.
 */
function timeline(
  r: TimelineRow | undefined,
  what: string,
  id: string,
  seen: (result: NonNullable<TimelineRow['result']>) => number | undefined,
): JoinTimeline | null {
  if (!r) throw new Error(`${what} ${id}: no join task`);
  if (r.status !== 'succeeded') {
    if (['dead', 'cancelled'].includes(r.status)) throw new Error(`${what} ${id}: ${r.status}`);
    return null;
  }
  if (!r.result || r.done_at === null || r.released_at === null || r.last_done === null) {
    throw new Error(`${what} ${id}: succeeded without every time (${JSON.stringify(r)})`);
  }
  return {
    releasedAt: r.released_at,
    firstStart: r.first_start,
    lastDone: r.last_done,
    joinClaimedAt: r.claimed_at,
    joinStartedAt: r.result.startedAt,
    doneAt: r.done_at,
    done: r.done,
    resultsSeen: seen(r.result) ?? null,
  };
}

function toSubmit(t: TaskSpec): { command: string; payload: { i: number }; run_at?: string } {
  return {
    command: t.handler,
    payload: { i: t.i },
    ...(t.runAt === undefined ? {} : { run_at: new Date(t.runAt).toISOString() }),
  };
}

/**
 * The column a variant's backlog fills, and its value for row `g` (SQL). Named only for that
 * variant, so that a plain backlog also loads into the schema of a build older than the
 * feature (TASKQ_BENCH_CLI).
 */
const BACKLOG_COLUMN: Partial<Record<DrainVariant, { column: string; value: string }>> = {
  routed: { column: 'requires', value: `'${JSON.stringify(ROUTE_LABEL)}'::jsonb` },
  // The column's '' means no group.
  grouped: { column: 'group_key', value: `'g' || (g % ${GROUPS})` },
};

/**
 * Inserts `n` due `noop` tasks into a taskq schema with one INSERT ... SELECT
 * generate_series, and queues the wake-up the API's insert sends (delivered at commit).
 * Run it inside a transaction so the backlog appears at once. A `routed` backlog's tasks
 * require {@link ROUTE_LABEL}; a `grouped` one's are dealt round robin into {@link GROUPS}
 * groups (`g0`, `g1`, …), as tasks submitted with `group` are stored.
 */
export async function insertTaskqBacklog(
  client: pg.ClientBase,
  schema: string,
  n: number,
  variant: DrainVariant = 'plain',
): Promise<void> {
  const extra = BACKLOG_COLUMN[variant];
  // uuid v7 ids: the time prefix, then the row number in the "random" bits so that ids (the
  // claim's last tie-break) follow insertion order as the API's ids do.
  // Params: $1 tasks, $2 ms since the epoch for the ids
  await client.query(
    `INSERT INTO "${schema}".tasks
       (id, queue, command, handler, payload, scheduled_at${extra ? `, ${extra.column}` : ''})
     SELECT (lpad(to_hex($2::bigint), 12, '0') || '7' || lpad(to_hex((g >> 16) & 4095), 3, '0')
             || '8' || lpad(to_hex(g & 65535), 4, '0') || substr(md5(g::text), 1, 11))::uuid,
            'default', 'noop', 'noop', NULL, now()${extra ? `, ${extra.value}` : ''}
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
