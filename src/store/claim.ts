import { withTransaction, type Db } from './db.js';
import { eventsChannel, notifyChangesCte } from './events.js';
import type { ClaimedTask } from './types.js';

/** What {@link claimDue} needs. */
export interface ClaimArgs {
  queue: string;
  /** Handler names the workers serve; null when one of them runs any command (shell). */
  handlers: string[] | null;
  /** One worker id per free slot; the n-th claimed task goes to slots[n]. */
  slots: string[];
  leaseMs: number;
  /** The queue has a concurrency limit or per-key limits: take the serialised path. @default false */
  limited?: boolean;
  /**
   * The labels every claiming worker has: only tasks that require none, or a subset of these,
   * are claimed. @default {}
   */
  labels?: Record<string, string>;
}

interface ClaimRow {
  id: string;
  attempt: number;
  worker_id: string;
  command: string;
  payload: string | null;
  queue: string;
  timeout_ms: number | null;
  max_attempts: number;
  scheduled_at: Date;
  due_at: Date;
  trace_context: string | null;
  inputs: string | null;
}

// The row update and announcement shared by both claim paths. `chosen` must yield (id, n).
// Params: $3 worker id per slot, $4 lease ms, $5 events channel
const claimChosen = (db: Db): string => `
  claimed AS (
    UPDATE ${db.s}.tasks t
    SET status = 'running', attempt = t.attempt + 1, worker_id = ($3::text[])[chosen.n],
        picked_at = now(), started_at = NULL, progress_percent = NULL, progress_message = NULL,
        lease_expires_at = now() + $4 * interval '1 millisecond', updated_at = now()
    FROM chosen
    WHERE t.id = chosen.id
    RETURNING t.id, t.attempt, t.status, t.updated_at, t.worker_id, t.command,
      t.payload::text AS payload, t.queue, t.timeout_ms, t.max_attempts, t.scheduled_at,
      greatest(t.scheduled_at, t.created_at) AS due_at, t.trace_context, t.inputs::text AS inputs
  ), ${notifyChangesCte(db, 'claimed', '$5')}
  SELECT claimed.* FROM claimed, (SELECT count(*) FROM notified) AS n`;

/**
 * Claims due tasks of one queue for a set of worker slots, in claim order (priority, then
 * due time, then id), so one statement serves every worker of the same capability.
 *
 * The common path takes no lock beyond the rows: SKIP LOCKED lets any number of coordinators
 * claim side by side, each skipping the rows another holds. It claims nothing from a paused
 * or limited queue. A limited queue (a concurrency limit, or per-key limits) takes the
 * serialised path: the queue's row is locked first, in its own statement, so the counts of
 * running tasks that the claim then reads (under a fresh snapshot) cannot be overtaken by
 * another coordinator. Claims on limited queues queue up behind each other; that is the
 * price of never overshooting a limit.
 */
export async function claimDue(db: Db, args: ClaimArgs): Promise<ClaimedTask[]> {
  const rows = args.limited ? await claimLimited(db, args) : await claimFast(db, args);
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
    dueAt: r.due_at,
    traceContext: r.trace_context,
    inputsJson: r.inputs,
  }));
}

async function claimFast(db: Db, a: ClaimArgs): Promise<ClaimRow[]> {
  // Params: $1 queue, $2 handler names (null = any), $3 worker id per slot, $4 lease ms,
  // $5 events channel, $6 the claiming workers' labels (json)
  const { rows } = await db.pool.query<ClaimRow>({
    name: `taskq_claim_${db.schema}`,
    text: `
      WITH locked AS (
        SELECT id FROM ${db.s}.tasks
        WHERE status = 'pending' AND queue = $1 AND scheduled_at <= now()
          AND ($2::text[] IS NULL OR handler = ANY ($2::text[]))
          AND (requires IS NULL OR requires <@ $6::jsonb)
          -- Evaluated once per statement (it does not depend on the row).
          AND NOT EXISTS (
            SELECT 1 FROM ${db.s}.queues WHERE name = $1
              AND (paused OR concurrency_limit IS NOT NULL OR key_concurrency_limit IS NOT NULL))
        ORDER BY priority DESC, scheduled_at, id
        LIMIT cardinality($3::text[])
        FOR UPDATE SKIP LOCKED
      ), chosen AS (
        -- FOR UPDATE cannot sit beside a window function, hence the second step.
        SELECT id, row_number() OVER () AS n FROM locked
      ), ${claimChosen(db)}`,
    values: [a.queue, a.handlers, a.slots, a.leaseMs, eventsChannel(db), labelsJson(a)],
  });
  return rows;
}

/** The claiming workers' labels as the claim compares them (`requires <@ labels`). */
function labelsJson(a: ClaimArgs): string {
  return JSON.stringify(a.labels ?? {});
}

/** How far past the slots the limited path looks, to find tasks whose key has room. */
const LIMITED_SCAN_FACTOR = 10;

async function claimLimited(db: Db, a: ClaimArgs): Promise<ClaimRow[]> {
  return withTransaction(db, async (client) => {
    const q = await client.query<{
      paused: boolean;
      concurrency_limit: number | null;
      key_concurrency_limit: number | null;
    }>(
      `SELECT paused, concurrency_limit, key_concurrency_limit FROM ${db.s}.queues WHERE name = $1 FOR UPDATE`,
      [a.queue],
    );
    const limits = q.rows[0];
    if (limits?.paused) return [];
    // Params: $1 queue, $2 handler names, $3 worker id per slot, $4 lease ms, $5 events channel,
    // $6 queue limit (null: none), $7 per-key limit (null: none), $8 candidates to scan,
    // $9 the claiming workers' labels (json)
    const { rows } = await client.query<ClaimRow>({
      name: `taskq_claim_limited_${db.schema}`,
      text: `
        WITH running AS (
          SELECT count(*)::int AS n FROM ${db.s}.tasks WHERE status = 'running' AND queue = $1
        ), key_running AS (
          SELECT concurrency_key, count(*)::int AS n FROM ${db.s}.tasks
          WHERE status = 'running' AND queue = $1 AND concurrency_key IS NOT NULL
          GROUP BY concurrency_key
        ), candidates AS (
          SELECT id, concurrency_key, priority, scheduled_at FROM ${db.s}.tasks
          WHERE status = 'pending' AND queue = $1 AND scheduled_at <= now()
            AND ($2::text[] IS NULL OR handler = ANY ($2::text[]))
            AND (requires IS NULL OR requires <@ $9::jsonb)
          ORDER BY priority DESC, scheduled_at, id
          LIMIT $8
          FOR UPDATE SKIP LOCKED
        ), ranked AS (
          SELECT c.*, row_number() OVER (PARTITION BY c.concurrency_key ORDER BY c.priority DESC, c.scheduled_at, c.id) AS key_rank
          FROM candidates c
        ), eligible AS (
          SELECT r.id, row_number() OVER (ORDER BY r.priority DESC, r.scheduled_at, r.id) AS n
          FROM ranked r LEFT JOIN key_running k ON k.concurrency_key = r.concurrency_key
          WHERE r.concurrency_key IS NULL OR $7::int IS NULL OR coalesce(k.n, 0) + r.key_rank <= $7::int
        ), chosen AS (
          SELECT id, n FROM eligible
          WHERE n <= least(cardinality($3::text[]), coalesce($6::int - (SELECT n FROM running), cardinality($3::text[])))
        ), ${claimChosen(db)}`,
      values: [
        a.queue,
        a.handlers,
        a.slots,
        a.leaseMs,
        eventsChannel(db),
        limits?.concurrency_limit ?? null,
        limits?.key_concurrency_limit ?? null,
        a.slots.length * LIMITED_SCAN_FACTOR,
        labelsJson(a),
      ],
    });
    return rows;
  });
}

/** Queues with a concurrency limit or per-key limits (they take the serialised claim). */
export async function limitedQueues(db: Db): Promise<Set<string>> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT name FROM ${db.s}.queues WHERE concurrency_limit IS NOT NULL OR key_concurrency_limit IS NOT NULL`,
  );
  return new Set(rows.map((r) => r.name));
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
