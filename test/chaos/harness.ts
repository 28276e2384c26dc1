import pg from 'pg';
import { expect } from 'vitest';
import type { Db } from '../../src/store/db.js';
import { childEnv } from '../helpers/cluster.js';
import { startTaskq, type TaskqProcess } from '../helpers/processes.js';
import { track } from '../helpers/resources.js';

export const CHAOS_HANDLERS = new URL('./handlers.mjs', import.meta.url).pathname;

/** Creates the side-effect log: one row per handler execution, no unique constraint. */
export async function createSideEffectLog(db: Db): Promise<void> {
  await db.pool.query(
    `CREATE TABLE IF NOT EXISTS ${db.s}.side_effects (task_id uuid NOT NULL, attempt int NOT NULL, pid int NOT NULL, at_ms bigint NOT NULL)`,
  );
}

/** A coordinator process with the default (production) timings unless told otherwise. */
export async function chaosCoordinator(
  schema: string,
  opts: { name?: string; args?: string[]; env?: Record<string, string> } = {},
): Promise<{ proc: TaskqProcess; grpcPort: number; httpPort: number; id: string }> {
  const proc = startTaskq(
    opts.name ?? 'coordinator',
    ['coordinator', '--grpc-port', '0', '--http-port', '0', ...(opts.args ?? [])],
    {
      ...childEnv(schema),
      ...opts.env,
    },
  );
  const started = await proc.waitForMsg('coordinator started');
  return {
    proc,
    grpcPort: started.grpcPort as number,
    httpPort: started.httpPort as number,
    id: started.id as string,
  };
}

interface PooledWorker {
  proc: TaskqProcess;
  workerId: string;
  pid: number;
}

/**
 * Worker processes running the chaos handlers. With `keepAlive`, a worker that dies (killed,
 * or crashed by a poison task) is replaced, as a process supervisor would.
 */
export class WorkerPool {
  readonly workers = new Map<number, PooledWorker>();
  private stopped = false;
  private started = 0;
  readonly restarts: number[] = [];

  constructor(
    private readonly schema: string,
    private readonly coordinators: number[],
    private readonly opts: {
      concurrency?: number;
      keepAlive?: boolean;
      env?: Record<string, string>;
    } = {},
  ) {
    track({ name: 'worker pool', isOpen: () => !this.stopped, stop: () => this.stop() });
  }

  /** Starts `n` workers and waits until each is connected. */
  async start(n: number): Promise<PooledWorker[]> {
    return Promise.all(Array.from({ length: n }, () => this.spawn()));
  }

  private async spawn(): Promise<PooledWorker> {
    const name = `worker-${++this.started}`;
    const proc = startTaskq(
      name,
      [
        'worker',
        '--coordinator',
        this.coordinators.map((p) => `127.0.0.1:${p}`).join(','),
        '--concurrency',
        String(this.opts.concurrency ?? 4),
        '--handlers',
        CHAOS_HANDLERS,
        '--name',
        name,
      ],
      { ...childEnv(this.schema), ...this.opts.env },
    );
    const connected = await proc.waitForMsg('connected');
    const w = { proc, workerId: connected.workerId as string, pid: proc.pid };
    this.workers.set(w.pid, w);
    void proc.exited.then(() => {
      this.workers.delete(w.pid);
      // A supervisor replaces crashed workers, not those it (or the test's cleanup) stopped.
      if (this.opts.keepAlive && !this.stopped && !proc.stopRequested) {
        this.restarts.push(Date.now());
        void this.spawn().catch(() => undefined);
      }
    });
    return w;
  }

  /** The worker process with this pid. */
  byPid(pid: number): PooledWorker | undefined {
    return this.workers.get(pid);
  }

  /** A random live worker. */
  random(): PooledWorker | undefined {
    const all = [...this.workers.values()];
    return all[Math.floor(Math.random() * all.length)];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.workers.values()].map((w) => w.proc.stop()));
  }
}

/** A small REST client for the chaos scenarios. */
export class Api {
  constructor(readonly base: string) {}

  async submit(body: object): Promise<{ id: string }> {
    const res = await fetch(`${this.base}/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string };
  }

  /** Submits a workflow; returns its id and its tasks' ids by key. */
  async submitWorkflow(body: object): Promise<{ id: string; tasks: Record<string, string> }> {
    const res = await fetch(`${this.base}/v1/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    const w = (await res.json()) as { id: string; tasks: Array<{ key: string; task_id: string }> };
    return { id: w.id, tasks: Object.fromEntries(w.tasks.map((t) => [t.key, t.task_id])) };
  }

  async submitBatch(tasks: object[]): Promise<string[]> {
    const res = await fetch(`${this.base}/v1/tasks/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tasks }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { items: Array<{ id: string }> }).items.map((i) => i.id);
  }
}

/** Reads the outcome of a chaos run straight from the database. */
export class Audit {
  constructor(private readonly db: Db) {}

  /** Side-effect rows of one task, in execution order. */
  async effects(taskId: string): Promise<Array<{ attempt: number; pid: number; at_ms: number }>> {
    const { rows } = await this.db.pool.query<{ attempt: number; pid: number; at_ms: string }>(
      `SELECT attempt, pid, at_ms FROM ${this.db.s}.side_effects WHERE task_id = $1 ORDER BY at_ms`,
      [taskId],
    );
    return rows.map((r) => ({ attempt: r.attempt, pid: r.pid, at_ms: Number(r.at_ms) }));
  }

  async waitForEffect(
    taskId: string,
    attempt: number,
    timeoutMs = 60_000,
  ): Promise<{ pid: number; at_ms: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = (await this.effects(taskId)).find((x) => x.attempt === attempt);
      if (e) return e;
      if (Date.now() > deadline)
        throw new Error(`no side effect for ${taskId} attempt ${attempt} in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async task(
    id: string,
  ): Promise<{ status: string; attempt: number; worker_id: string | null; result: any }> {
    const { rows } = await this.db.pool.query(
      `SELECT status, attempt, worker_id, result FROM ${this.db.s}.tasks WHERE id = $1`,
      [id],
    );
    return rows[0];
  }

  /** Waits until none of `ids` is pending, running, blocked or waiting. */
  async waitAllFinished(ids: string[], timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await this.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${this.db.s}.tasks WHERE id = ANY ($1::uuid[]) AND status IN ('pending', 'running', 'blocked', 'waiting')`,
        [ids],
      );
      if (rows[0]?.n === 0) return;
      if (Date.now() > deadline)
        throw new Error(`${rows[0]?.n} of ${ids.length} tasks still unfinished`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Lost: submitted but not succeeded. Raw duplicates: executions beyond one per task.
   * Effective duplicates: tasks with more than one accepted success.
   */
  async losses(
    ids: string[],
  ): Promise<{ lost: number; rawDuplicates: number; effectiveDuplicates: number }> {
    const q = async (sql: string): Promise<number> =>
      (await this.db.pool.query<{ n: number }>(sql, [ids])).rows[0]?.n ?? 0;
    return {
      lost: await q(
        `SELECT count(*)::int AS n FROM ${this.db.s}.tasks WHERE id = ANY ($1::uuid[]) AND status <> 'succeeded'`,
      ),
      rawDuplicates: await q(
        `SELECT coalesce(sum(c - 1), 0)::int AS n FROM (SELECT count(*) AS c FROM ${this.db.s}.side_effects WHERE task_id = ANY ($1::uuid[]) GROUP BY task_id) x`,
      ),
      effectiveDuplicates: await q(
        `SELECT count(*)::int AS n FROM (SELECT task_id FROM ${this.db.s}.task_attempts WHERE task_id = ANY ($1::uuid[]) AND outcome = 'succeeded' GROUP BY task_id HAVING count(*) > 1) x`,
      ),
    };
  }

  async attempts(
    taskId: string,
  ): Promise<Array<{ attempt: number; outcome: string; worker_id: string }>> {
    const { rows } = await this.db.pool.query(
      `SELECT attempt, outcome, worker_id FROM ${this.db.s}.task_attempts WHERE task_id = $1 ORDER BY attempt`,
      [taskId],
    );
    return rows;
  }
}

/** A direct pool, for scenarios that talk to a database of their own. */
export function directPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  pool.on('error', () => undefined);
  return pool;
}
