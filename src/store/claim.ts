import type { Db } from './db.js';
import { eventsChannel } from './events.js';
import type { ClaimedTask } from './types.js';
import {
  CLAIM_ORDER,
  CLAIM_ROW_COLUMNS,
  LANED,
  LIMITED_QUEUE,
  STICKY_PENDING,
  claimChosen,
  claimedRows,
  labelsJson,
  type ClaimArgs,
  type ClaimRow,
  type NoticeRow,
} from './claim-common.js';
import { claimSerialised } from './claim-serialised.js';

export type { ClaimArgs, ClaimNotice } from './claim-common.js';

/**
 * Claims due tasks of one queue for a set of worker slots, in claim order (priority, then
 * due time, then id; round robin across groups), so one statement serves every worker of the
 * same capability.
 *
 * The common path takes no lock beyond the rows: SKIP LOCKED lets any number of coordinators
 * claim side by side, each skipping the rows another holds. It claims only plain tasks (no
 * group, no rate key, no sticky key), and nothing from a paused or limited queue. Everything
 * else takes the serialised path: the queue's row is locked first, in its own statement, so
 * the counts of running tasks and of recent starts that the claim then reads (under a fresh
 * snapshot) cannot be overtaken by another coordinator. Claims on such a queue queue up behind
 * each other; that is the price of never overshooting a limit. When the common path finds
 * tasks with a group, a rate key or a sticky key in the queue, it claims nothing and the same
 * call takes the serialised path, whose `onNotice` tells the caller to go there directly next
 * time.
 */
export async function claimDue(db: Db, args: ClaimArgs): Promise<ClaimedTask[]> {
  let rows: ClaimRow[];
  if (args.limited) {
    rows = await claimSerialised(db, args);
  } else {
    const fast = await claimFast(db, args);
    rows = fast.lanes ? await claimSerialised(db, args) : fast.rows;
  }
  return rows.map((r) => ({
    id: r.id,
    attempt: r.attempt,
    workerId: r.worker_id,
    command: r.command,
    payloadJson: r.payload,
    queue: r.queue,
    timeoutMs: r.timeout_ms,
    maxAttempts: r.max_attempts,
    scheduledAtMs: r.scheduled_at,
    dueAtMs: r.due_at,
    traceContext: r.trace_context,
    inputsJson: r.inputs,
  }));
}

async function claimFast(db: Db, a: ClaimArgs): Promise<{ rows: ClaimRow[]; lanes: boolean }> {
  // Params: $1 queue, $2 handler names (null = any), $3 worker id per slot, $4 lease ms,
  // $5 events channel, $6 the claiming workers' labels (json)
  const { rows } = await db.pool.query<NoticeRow>({
    name: `taskq_claim_${db.schema}`,
    text: `
      WITH lanes AS (
        -- Whether tasks wait in lanes: one probe of the lane index, which holds no entry of a
        -- queue without groups or rate keys. Then the whole claim belongs to the serialised
        -- path, lest plain tasks jump the round robin. So it does when sticky tasks wait.
        SELECT EXISTS (SELECT 1 FROM ${db.s}.tasks
                       WHERE queue = $1 AND status = 'pending' AND ${LANED})
               OR ${STICKY_PENDING(db)} AS present
      ), locked AS (
        SELECT id FROM ${db.s}.tasks
        WHERE status = 'pending' AND queue = $1 AND group_key = '' AND rate_key = ''
          AND scheduled_at <= now()
          AND ($2::text[] IS NULL OR handler = ANY ($2::text[]))
          AND (requires IS NULL OR requires <@ $6::jsonb)
          -- Evaluated once per statement (they do not depend on the row).
          AND NOT EXISTS (
            SELECT 1 FROM ${db.s}.queues WHERE name = $1 AND (paused OR ${LIMITED_QUEUE}))
          AND NOT (SELECT present FROM lanes)
        ORDER BY priority DESC, scheduled_at, id
        LIMIT cardinality($3::text[])
        FOR UPDATE SKIP LOCKED
      ), chosen AS (
        -- FOR UPDATE cannot sit beside a window function, hence the second step.
        SELECT id, row_number() OVER () AS n FROM locked
      ), ${claimChosen(db)}
      -- One row even when nothing was claimed, to say whether tasks wait in lanes. The
      -- announcement is joined, not a column of a subquery: PostgreSQL drops an unused
      -- column's subquery unevaluated, and the claim would then announce nothing.
      SELECT ${CLAIM_ROW_COLUMNS}, x.present AS lanes
      FROM lanes x CROSS JOIN (SELECT count(*) FROM notified) n
      LEFT JOIN claimed c ON true
      ${CLAIM_ORDER}`,
    values: [a.queue, a.handlers, a.slots, a.leaseMs, eventsChannel(db), labelsJson(a)],
  });
  return { rows: claimedRows(rows), lanes: rows[0]?.lanes === true };
}

/** Queues with limits (concurrency or rate): they take the serialised claim. */
export async function limitedQueues(db: Db): Promise<Set<string>> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT name FROM ${db.s}.queues WHERE ${LIMITED_QUEUE}`,
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
