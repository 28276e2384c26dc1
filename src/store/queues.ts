import { withTransaction, type Db } from './db.js';
import { wakeChannel, wakePayload } from './channels.js';

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
  concurrencyLimit: number | null;
  keyConcurrencyLimit: number | null;
}

/** Settings a queue can carry. Null clears a setting (back to the default). */
export interface QueueSettings {
  maxAttempts?: number | null;
  backoffBaseMs?: number | null;
  backoffMaxMs?: number | null;
  /** Most tasks of the queue running at once, across all workers. */
  concurrencyLimit?: number | null;
  /** Most tasks with the same concurrency_key running at once. */
  keyConcurrencyLimit?: number | null;
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
    concurrency_limit: number | null;
    key_concurrency_limit: number | null;
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
       coalesce(d.dead, 0) AS dead, d.oldest_due_ms, q.max_attempts, q.backoff_base_ms, q.backoff_max_ms,
       q.concurrency_limit, q.key_concurrency_limit
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
    concurrencyLimit: r.concurrency_limit,
    keyConcurrencyLimit: r.key_concurrency_limit,
  }));
}

/** A queue's retry delay defaults, as they would be after an update (null: not set). */
export interface BackoffSettings {
  backoffBaseMs: number | null;
  backoffMaxMs: number | null;
}

/**
 * Creates or updates a queue's settings; fields left undefined keep their value. Resuming
 * wakes the coordinators, so the queue's due tasks flow at once. When backoff settings
 * change, `checkBackoff` sees them merged with the stored ones, under the row's lock, and
 * may throw to refuse the update (nothing is then written).
 */
export async function updateQueue(
  db: Db,
  name: string,
  s: QueueSettings & { paused?: boolean },
  checkBackoff?: (merged: BackoffSettings) => void,
): Promise<void> {
  // A field given (even as null) is set; one left undefined keeps its value.
  const fields: Array<[string, unknown]> = [
    ['max_attempts', s.maxAttempts],
    ['backoff_base_ms', s.backoffBaseMs],
    ['backoff_max_ms', s.backoffMaxMs],
    ['concurrency_limit', s.concurrencyLimit],
    ['key_concurrency_limit', s.keyConcurrencyLimit],
  ].filter(([, v]) => v !== undefined) as Array<[string, unknown]>;
  const values: unknown[] = [name, s.paused ?? null, ...fields.map(([, v]) => v)];
  const cols = fields.map(([c]) => c);
  // Create or update the row. Params: $1 name, $2 paused (null keeps it), $3… the fields given.
  const upsert = `INSERT INTO ${db.s}.queues AS q (name, paused${cols.map((c) => `, ${c}`).join('')})
     VALUES ($1, coalesce($2::boolean, false)${cols.map((_, i) => `, $${i + 3}`).join('')})
     ON CONFLICT (name) DO UPDATE SET paused = coalesce($2::boolean, q.paused),
       ${cols.map((c) => `${c} = excluded.${c}, `).join('')}updated_at = now()`;
  if (checkBackoff && (s.backoffBaseMs !== undefined || s.backoffMaxMs !== undefined)) {
    await withTransaction(db, async (client) => {
      // The row must exist to be locked; a refused update rolls the new row back too.
      await client.query(
        `INSERT INTO ${db.s}.queues (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`,
        [name],
      );
      const { rows } = await client.query<BackoffSettings>(
        `SELECT backoff_base_ms AS "backoffBaseMs", backoff_max_ms AS "backoffMaxMs"
         FROM ${db.s}.queues WHERE name = $1 FOR UPDATE`,
        [name],
      );
      const stored = rows[0] ?? { backoffBaseMs: null, backoffMaxMs: null };
      checkBackoff({
        backoffBaseMs: s.backoffBaseMs !== undefined ? s.backoffBaseMs : stored.backoffBaseMs,
        backoffMaxMs: s.backoffMaxMs !== undefined ? s.backoffMaxMs : stored.backoffMaxMs,
      });
      await client.query(upsert, values);
    });
  } else {
    await db.pool.query(upsert, values);
  }
  if (s.paused === false) {
    await db.pool.query(`SELECT pg_notify($1, $2)`, [
      wakeChannel(db),
      wakePayload(new Date(), name),
    ]);
  }
}

/** The queue's per-key concurrency limit, or null. */
export async function keyConcurrencyLimit(db: Db, queue: string): Promise<number | null> {
  const { rows } = await db.pool.query<{ n: number | null }>(
    `SELECT key_concurrency_limit AS n FROM ${db.s}.queues WHERE name = $1`,
    [queue],
  );
  return rows[0]?.n ?? null;
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

/** Tasks of one queue that finished recently. */
export interface QueueThroughput {
  /** Tasks that succeeded in the window. */
  succeeded: number;
  /** Tasks not succeeded whose latest attempt failed in the window (retried or dead). */
  failed: number;
}

/**
 * Per queue, the tasks that succeeded and failed in the last `windowS` seconds. Reads only
 * the tasks changed within the window (the updated_at index), never older history; still,
 * at 10,000 tasks/s a minute is 600,000 rows, so callers cache it for a few seconds.
 */
export async function recentThroughput(
  db: Db,
  windowS: number,
): Promise<Map<string, QueueThroughput>> {
  const { rows } = await db.pool.query<{ queue: string; succeeded: number; failed: number }>(
    `SELECT queue,
       count(*) FILTER (WHERE status = 'succeeded' AND completed_at > now() - $1 * interval '1 second')::int AS succeeded,
       count(*) FILTER (WHERE status <> 'succeeded' AND failed_at > now() - $1 * interval '1 second')::int AS failed
     FROM ${db.s}.tasks
     WHERE updated_at > now() - $1 * interval '1 second'
     GROUP BY queue`,
    [windowS],
  );
  return new Map(rows.map((r) => [r.queue, { succeeded: r.succeeded, failed: r.failed }]));
}
