import type { Db } from './db.js';
import { notifyChangesCte } from './events.js';
import { epochMs } from './rows.js';

/*
 * What both claim paths share (store/claim.ts, the common path; store/claim-serialised.ts,
 * the path of limits, rate limits and groups): their arguments and rows, and the statement
 * parts that update and announce the claimed rows.
 */

/** What a claim learnt besides the tasks it took, for the dispatcher. */
export interface ClaimNotice {
  /**
   * The queue has pending tasks with a group, a rate key or a sticky key. They are claimed
   * only on the serialised path, so the dispatcher should claim this queue that way from now
   * on.
   */
  lanes: boolean;
  /**
   * A rate limit held tasks back: the earliest instant (database clock) one of them may be
   * claimed. Null when no limit is used up.
   */
  heldUntil: Date | null;
}

/** What {@link claimDue} needs. */
export interface ClaimArgs {
  queue: string;
  /** Handler names the workers serve; null when one of them runs any command (shell). */
  handlers: string[] | null;
  /** One worker id per free slot; the n-th claimed task goes to slots[n]. */
  slots: string[];
  leaseMs: number;
  /**
   * Take the serialised path: the queue has limits (concurrency, rate) or tasks with a group
   * or a rate key. @default false
   */
  limited?: boolean;
  /**
   * The labels every claiming worker has: only tasks that require none, or a subset of these,
   * are claimed. @default {}
   */
  labels?: Record<string, string>;
  /** Told what the claim learnt about the queue (not called for a paused queue). */
  onNotice?: (notice: ClaimNotice) => void;
}

export interface ClaimRow {
  id: string;
  attempt: number;
  worker_id: string;
  command: string;
  payload: string | null;
  queue: string;
  timeout_ms: number | null;
  max_attempts: number;
  scheduled_at: number;
  due_at: number;
  trace_context: string | null;
  inputs: string | null;
}

/** A statement's rows: the claimed tasks (id null when none), and what it learnt. */
export type NoticeRow = { [K in keyof ClaimRow]: ClaimRow[K] | null } & {
  lanes: boolean | number;
  held_until?: Date | null;
};

/**
 * The slot assignment, row update and announcement shared by both claim paths. `chosen` must
 * yield (id, n), n being the claim order, and with `sticky` also sticky_key; `at` is the
 * claim's time, stored as picked_at. The n-th task takes the n-th slot. With `sticky` (the
 * serialised path, which every queue with pending sticky tasks takes), a task whose sticky key's
 * holder (the worker that took the key's last task) has a free slot in this claim takes one of
 * that worker's instead, the others fill the remaining slots in order, and the holders of the
 * keys handed out are recorded. With `byIds`, the rows are also looked up by an array of the
 * chosen ids, which the planner takes for a handful of primary-key probes, where its estimate
 * of `chosen` (after lanes, windows and limits) can be wild enough to make it hash the whole
 * table instead.
 * Params: $1 queue, $3 worker id per slot, $4 lease ms, $5 events channel
 */
export const claimChosen = (
  db: Db,
  opts: { at?: string; byIds?: boolean; sticky?: boolean } = {},
): string => {
  const { at = 'now()', byIds = false, sticky = false } = opts;
  const placed = sticky
    ? `stuck AS (
    -- A holder's k-th sticky task of this claim takes its k-th slot, if it has one. Empty
    -- (and the slots never unnested) when no chosen task has a sticky key with a holder.
    SELECT p.id, s.i AS slot
    FROM (SELECT c.id, h.worker_id,
            row_number() OVER (PARTITION BY h.worker_id ORDER BY c.n) AS k
          FROM chosen c JOIN ${db.s}.sticky_holders h
            ON h.queue = $1 AND h.sticky_key = c.sticky_key
          WHERE c.sticky_key <> '') p
    JOIN (SELECT w, i, row_number() OVER (PARTITION BY w ORDER BY i) AS k
          FROM unnest($3::text[]) WITH ORDINALITY AS s(w, i)) s
      ON s.w = p.worker_id AND s.k = p.k
  ), placed AS (
    SELECT c.id, c.n, c.n AS slot FROM chosen c WHERE NOT EXISTS (SELECT 1 FROM stuck)
    UNION ALL
    SELECT c.id, c.n, s.slot FROM chosen c JOIN stuck s ON s.id = c.id
    UNION ALL
    -- The rest, in claim order, take the slots the sticky ones left, in slot order.
    SELECT r.id, r.n, f.i FROM
      (SELECT c.id, c.n, row_number() OVER (ORDER BY c.n) AS r FROM chosen c
       WHERE EXISTS (SELECT 1 FROM stuck) AND c.id NOT IN (SELECT id FROM stuck)) r
      JOIN (SELECT i, row_number() OVER (ORDER BY i) AS r
            FROM generate_series(1, cardinality($3::text[])) AS i
            WHERE EXISTS (SELECT 1 FROM stuck) AND i NOT IN (SELECT slot FROM stuck)) f
        ON f.r = r.r
  ),`
    : `placed AS (SELECT id, n, n AS slot FROM chosen),`;
  const holders = sticky
    ? `, holders AS (
    -- Whoever took a key's last task here holds it now. A key that stays with its holder (the
    -- usual case) is not touched: no row version, not even a row lock, per sticky task. The
    -- queue's lock, held by this claim, keeps other claims of the queue from moving its keys
    -- meanwhile.
    INSERT INTO ${db.s}.sticky_holders AS h (queue, sticky_key, worker_id)
    SELECT l.queue, l.sticky_key, l.worker_id
    FROM (SELECT DISTINCT ON (sticky_key) queue, sticky_key, worker_id FROM claimed
          WHERE sticky_key <> '' ORDER BY sticky_key, n DESC) l
    WHERE NOT EXISTS (SELECT 1 FROM ${db.s}.sticky_holders k
                      WHERE k.queue = l.queue AND k.sticky_key = l.sticky_key
                        AND k.worker_id = l.worker_id)
    ON CONFLICT (queue, sticky_key)
    DO UPDATE SET worker_id = excluded.worker_id, since = now()
  )`
    : '';
  return `
  ${placed} claimed AS (
    UPDATE ${db.s}.tasks t
    SET status = 'running', attempt = t.attempt + 1, worker_id = ($3::text[])[placed.slot],
        picked_at = ${at}, started_at = NULL, progress_percent = NULL, progress_message = NULL,
        lease_expires_at = now() + $4 * interval '1 millisecond', updated_at = now()
    FROM placed
    WHERE t.id = placed.id${byIds ? ' AND t.id = ANY (ARRAY(SELECT id FROM chosen))' : ''}
    RETURNING t.id, t.attempt, t.status, t.updated_at, t.worker_id, t.command,
      t.payload::text AS payload, t.queue, t.timeout_ms, t.max_attempts,
      ${epochMs('t.scheduled_at')} AS scheduled_at,
      ${epochMs('greatest(t.scheduled_at, t.created_at)')} AS due_at, t.trace_context,
      t.inputs::text AS inputs,
      t.rate_key, t.group_key, t.sticky_key, placed.n
  )${holders}, ${notifyChangesCte(db, 'claimed', '$5')}`;
};

/**
 * How the final SELECT of a claim orders its rows: in claim order. An UPDATE returns its rows
 * in whatever order its join met them, which follows the plan (a hash join after an ANALYZE
 * turned a claim of high-early, high-late, low into low, high-late, high-early).
 */
export const CLAIM_ORDER = 'ORDER BY c.n';

/** The columns of {@link ClaimRow}, as the final SELECT of a claim returns them from `claimed`. */
export const CLAIM_ROW_COLUMNS = `c.id, c.attempt, c.worker_id, c.command, c.payload, c.queue, c.timeout_ms,
  c.max_attempts, c.scheduled_at, c.due_at, c.trace_context, c.inputs`;

/** Tasks with a group or a rate key: the ones in the lane index (migration 0016). */
export const LANED = `(group_key <> '' OR rate_key <> '')`;

/**
 * Whether queue $1 has pending tasks with a sticky key, by one probe of their partial index
 * (migration 0019), empty when no task has one. They send the queue's claims down the
 * serialised path, whose slot assignment knows about holders; the common path stays as cheap
 * as it was.
 */
export const STICKY_PENDING = (db: Db): string => `EXISTS (SELECT 1 FROM ${db.s}.tasks
  WHERE queue = $1 AND status = 'pending' AND sticky_key <> '')`;

/**
 * The settings that send a queue's claims down the serialised path; the common path refuses
 * such a queue outright, so a limit set while claims run is never overshot by a coordinator
 * that has not noticed it yet.
 */
export const LIMITED_QUEUE = `(concurrency_limit IS NOT NULL OR key_concurrency_limit IS NOT NULL
  OR rate_limit_count IS NOT NULL OR key_rate_limit_count IS NOT NULL)`;

/** The claimed rows of a statement that always returns one row at least. */
export function claimedRows(rows: NoticeRow[]): ClaimRow[] {
  return rows.filter((r): r is NoticeRow & ClaimRow => r.id !== null);
}

/** The claiming workers' labels as the claim compares them (`requires <@ labels`). */
export function labelsJson(a: ClaimArgs): string {
  return JSON.stringify(a.labels ?? {});
}
