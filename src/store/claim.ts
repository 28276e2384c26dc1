import type { Db } from './db.js';
import { eventsChannel, notifyChangesCte } from './events.js';
import type { ClaimedTask } from './tasks.js';

/**
 * Claims due tasks of one queue for a set of worker slots, in claim order (priority, then
 * due time). `slots` holds one worker id per free slot; the n-th claimed task goes to
 * `slots[n]`, so one statement serves every worker of the same capability.
 *
 * SKIP LOCKED lets any number of coordinators claim side by side: each skips the rows
 * another has locked instead of queueing behind them.
 */
export async function claimDue(
  db: Db,
  args: { queue: string; handlers: string[] | null; slots: string[]; leaseMs: number },
): Promise<ClaimedTask[]> {
  // Claim the next due tasks of one queue.
  // Params: $1 queue, $2 handler names (null = any), $3 worker id per slot, $4 lease ms,
  // $5 events channel
  const { rows } = await db.pool.query<{
    id: string;
    attempt: number;
    worker_id: string;
    command: string;
    payload: string | null;
    queue: string;
    timeout_ms: number | null;
    max_attempts: number;
    scheduled_at: Date;
  }>({
    name: `taskq_claim_${db.schema}`,
    text: `
      WITH locked AS (
        SELECT id FROM ${db.s}.tasks
        WHERE status = 'pending' AND queue = $1 AND scheduled_at <= now()
          AND ($2::text[] IS NULL OR handler = ANY ($2::text[]))
          -- Evaluated once per statement (it does not depend on the row).
          AND NOT EXISTS (SELECT 1 FROM ${db.s}.queues WHERE name = $1 AND paused)
        ORDER BY priority DESC, scheduled_at, id
        LIMIT cardinality($3::text[])
        FOR UPDATE SKIP LOCKED
      ), numbered AS (
        -- FOR UPDATE cannot sit beside a window function, hence the second step.
        SELECT id, row_number() OVER () AS n FROM locked
      ), claimed AS (
        UPDATE ${db.s}.tasks t
        SET status = 'running', attempt = t.attempt + 1, worker_id = ($3::text[])[numbered.n],
            picked_at = now(), started_at = NULL, progress_percent = NULL, progress_message = NULL,
            lease_expires_at = now() + $4 * interval '1 millisecond', updated_at = now()
        FROM numbered
        WHERE t.id = numbered.id
        RETURNING t.id, t.attempt, t.status, t.updated_at, t.worker_id, t.command,
          t.payload::text AS payload, t.queue, t.timeout_ms, t.max_attempts, t.scheduled_at
      ), ${notifyChangesCte('claimed', '$5')}
      SELECT claimed.* FROM claimed, (SELECT count(*) FROM notified) AS n`,
    values: [args.queue, args.handlers, args.slots, args.leaseMs, eventsChannel(db)],
  });
  return rows.map((r) => ({
    id: r.id,
    attempt: r.attempt,
    workerId: r.worker_id,
    command: r.command,
    payloadJson: r.payload,
    queue: r.queue,
    timeoutMs: r.timeout_ms,
    maxAttempts: r.max_attempts,
    scheduledAt: r.scheduled_at,
  }));
}

/**
 * The earliest due time among pending tasks that are not yet due, with the database's
 * clock, so the caller can arm a timer in its own clock's terms.
 */
export async function nextDueAt(db: Db): Promise<{ next: Date | null; dbNow: Date }> {
  const { rows } = await db.pool.query<{ next: Date | null; db_now: Date }>({
    name: `taskq_next_due_${db.schema}`,
    text: `SELECT (SELECT min(scheduled_at) FROM ${db.s}.tasks
                   WHERE status = 'pending' AND scheduled_at > now()) AS next,
                  clock_timestamp() AS db_now`,
  });
  const row = rows[0] as { next: Date | null; db_now: Date };
  return { next: row.next, dbNow: row.db_now };
}
