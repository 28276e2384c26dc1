import type { Db } from './db.js';
import { wakeChannel } from './tasks.js';

/** Settings and depth of one queue. */
export interface QueueInfo {
  name: string;
  paused: boolean;
  /** Pending and due now. */
  due: number;
  /** Pending with a future run_at (including retries waiting out their backoff). */
  scheduled: number;
  running: number;
  dead: number;
  /** Age of the oldest due pending task, or null when none is due. */
  oldestDueAgeMs: number | null;
  maxAttempts: number | null;
  backoffBaseMs: number | null;
  backoffMaxMs: number | null;
}

/** Settings a queue can carry. Null clears a setting (back to the default). */
export interface QueueSettings {
  maxAttempts?: number | null;
  backoffBaseMs?: number | null;
  backoffMaxMs?: number | null;
}

/**
 * Every queue that has live work, dead tasks or settings, with its depth. Counts read the
 * partial claim and lease indexes (pending, running) and the status index (dead), never
 * the finished history.
 */
export async function listQueues(db: Db, name?: string): Promise<QueueInfo[]> {
  const { rows } = await db.pool.query<{
    name: string;
    paused: boolean | null;
    due: number;
    scheduled: number;
    running: number;
    dead: number;
    oldest_due_ms: number | null;
    max_attempts: number | null;
    backoff_base_ms: number | null;
    backoff_max_ms: number | null;
  }>(
    `WITH depth AS (
       SELECT queue,
         count(*) FILTER (WHERE status = 'pending' AND scheduled_at <= now())::int AS due,
         count(*) FILTER (WHERE status = 'pending' AND scheduled_at > now())::int AS scheduled,
         count(*) FILTER (WHERE status = 'running')::int AS running,
         count(*) FILTER (WHERE status = 'dead')::int AS dead,
         (extract(epoch FROM now() - min(scheduled_at) FILTER (WHERE status = 'pending' AND scheduled_at <= now())) * 1000)::float8 AS oldest_due_ms
       FROM ${db.s}.tasks
       WHERE status IN ('pending', 'running', 'dead') AND ($1::text IS NULL OR queue = $1)
       GROUP BY queue
     )
     SELECT coalesce(d.queue, q.name) AS name, q.paused, coalesce(d.due, 0) AS due,
       coalesce(d.scheduled, 0) AS scheduled, coalesce(d.running, 0) AS running,
       coalesce(d.dead, 0) AS dead, d.oldest_due_ms, q.max_attempts, q.backoff_base_ms, q.backoff_max_ms
     FROM depth d FULL JOIN (SELECT * FROM ${db.s}.queues WHERE $1::text IS NULL OR name = $1) q ON q.name = d.queue
     ORDER BY 1`,
    [name ?? null],
  );
  return rows.map((r) => ({
    name: r.name,
    paused: r.paused ?? false,
    due: r.due,
    scheduled: r.scheduled,
    running: r.running,
    dead: r.dead,
    oldestDueAgeMs: r.oldest_due_ms === null ? null : Math.max(0, Math.round(r.oldest_due_ms)),
    maxAttempts: r.max_attempts,
    backoffBaseMs: r.backoff_base_ms,
    backoffMaxMs: r.backoff_max_ms,
  }));
}

/**
 * Creates or updates a queue's settings; fields left undefined keep their value. Resuming
 * wakes the coordinators, so the queue's due tasks flow at once.
 */
export async function updateQueue(
  db: Db,
  name: string,
  s: QueueSettings & { paused?: boolean },
): Promise<void> {
  // Params: $1 name, $2 paused, $3/$5/$7 "was the field given", $4 max_attempts, $6 backoff base, $8 backoff max
  await db.pool.query(
    `INSERT INTO ${db.s}.queues AS q (name, paused, max_attempts, backoff_base_ms, backoff_max_ms)
     VALUES ($1, coalesce($2, false), $4, $6, $8)
     ON CONFLICT (name) DO UPDATE SET
       paused = coalesce($2, q.paused),
       max_attempts = CASE WHEN $3 THEN $4 ELSE q.max_attempts END,
       backoff_base_ms = CASE WHEN $5 THEN $6 ELSE q.backoff_base_ms END,
       backoff_max_ms = CASE WHEN $7 THEN $8 ELSE q.backoff_max_ms END,
       updated_at = now()`,
    [
      name,
      s.paused ?? null,
      s.maxAttempts !== undefined,
      s.maxAttempts ?? null,
      s.backoffBaseMs !== undefined,
      s.backoffBaseMs ?? null,
      s.backoffMaxMs !== undefined,
      s.backoffMaxMs ?? null,
    ],
  );
  if (s.paused === false) {
    await db.pool.query(`SELECT pg_notify($1, $2)`, [wakeChannel(db), `${Date.now()}:${name}`]);
  }
}

/** Whether `queue` is paused. */
export async function isQueuePaused(db: Db, queue: string): Promise<boolean> {
  const { rows } = await db.pool.query<{ paused: boolean }>(
    `SELECT paused FROM ${db.s}.queues WHERE name = $1`,
    [queue],
  );
  return rows[0]?.paused ?? false;
}

/** Due pending tasks in `queue`, counted up to `cap` (so the cost is bounded). */
export async function countDue(db: Db, queue: string, cap: number): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (
       SELECT 1 FROM ${db.s}.tasks WHERE status = 'pending' AND queue = $1 AND scheduled_at <= now() LIMIT $2
     ) due`,
    [queue, cap],
  );
  return rows[0]?.n ?? 0;
}
