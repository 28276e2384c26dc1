import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { benchSchema, dropSchema, inTransaction } from '../lib/database.js';
import { CLI } from '../lib/processes.js';
import { perSecond } from '../lib/stats.js';
import { insertTaskqBacklog } from '../systems/taskq.js';
import type { RunContext } from './context.js';

/** The raw SQL loop's best throughput, and each shape tried. */
export interface CeilingResult {
  tasks: number;
  batch: number;
  /** The best of `tried`. */
  tasksPerSec: number;
  /** Concurrent loops → tasks/s. */
  tried: Record<string, number>;
}

/** Claim size per statement. */
const BATCH = 500;
/** Concurrent loops tried; the best counts. */
const LOOPS = [2, 4];

/**
 * Scenario 7: what PostgreSQL allows here. A fresh taskq schema (same table, same indexes)
 * holds N due tasks; plain loops, with no queue library and no network hop to a worker,
 * claim `BATCH` rows with FOR UPDATE SKIP LOCKED and complete them with one unnest UPDATE,
 * under the same fencing rule as ours. Nothing is written to task_attempts.
 */
export async function ceiling(ctx: RunContext): Promise<CeilingResult> {
  const n = ctx.sizes.ceilingTasks;
  const tried: Record<string, number> = {};
  for (const loops of LOOPS) tried[String(loops)] = await ceilingRun(ctx, n, loops);
  return { tasks: n, batch: BATCH, tasksPerSec: Math.max(...Object.values(tried)), tried };
}

async function ceilingRun(ctx: RunContext, n: number, loops: number): Promise<number> {
  const schema = benchSchema('ceiling');
  const s = `"${schema}"`;
  const pool = new pg.Pool({ connectionString: ctx.url, max: loops });
  try {
    await promisify(execFile)(process.execPath, [CLI, 'migrate'], {
      env: { ...process.env, DATABASE_URL: ctx.url, TASKQ_SCHEMA: schema },
    });
    await inTransaction(ctx.pool, (c) => insertTaskqBacklog(c, schema, n));
    const loop = async (): Promise<void> => {
      const client = await pool.connect();
      try {
        for (;;) {
          // Params: $1 batch size
          const claimed = await client.query<{ id: string; attempt: number }>({
            name: 'ceiling_claim',
            text: `UPDATE ${s}.tasks t
                   SET status = 'running', attempt = t.attempt + 1, worker_id = 'raw',
                       picked_at = now(), lease_expires_at = now() + interval '5 seconds',
                       updated_at = now()
                   WHERE t.id IN (
                     SELECT id FROM ${s}.tasks
                     WHERE status = 'pending' AND queue = 'default' AND scheduled_at <= now()
                     ORDER BY priority DESC, scheduled_at, id
                     LIMIT $1 FOR UPDATE SKIP LOCKED)
                   RETURNING t.id, t.attempt`,
            values: [BATCH],
          });
          if (claimed.rows.length === 0) return;
          // Params: $1 ids, $2 attempts
          await client.query({
            name: 'ceiling_complete',
            text: `UPDATE ${s}.tasks t
                   SET status = 'succeeded', result = 'null', completed_at = now(),
                       started_at = t.picked_at, lease_expires_at = NULL, updated_at = now()
                   FROM unnest($1::uuid[], $2::int[]) AS d(id, attempt)
                   WHERE t.id = d.id AND t.attempt = d.attempt AND t.status = 'running'`,
            values: [claimed.rows.map((r) => r.id), claimed.rows.map((r) => r.attempt)],
          });
        }
      } finally {
        client.release();
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: loops }, loop));
    const ms = performance.now() - t0;
    const { rows } = await ctx.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${s}.tasks WHERE status = 'succeeded'`,
    );
    if (rows[0]?.n !== n) throw new Error(`ceiling: ${rows[0]?.n} of ${n} tasks completed`);
    return perSecond(n, ms);
  } finally {
    await pool.end();
    await dropSchema(ctx.pool, schema);
  }
}
