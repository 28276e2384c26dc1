import type pg from 'pg';
import { withTransaction, type Db } from './db.js';
import { eventsChannel } from './events.js';
import { QUEUE_LIMITS_COLUMNS, rateLedgerCte, type QueueLimitsRow } from './queues.js';
import {
  CLAIM_ORDER,
  CLAIM_ROW_COLUMNS,
  LANED,
  claimChosen,
  claimedRows,
  labelsJson,
  type ClaimArgs,
  type ClaimRow,
  type NoticeRow,
} from './claim-common.js';

/**
 * How far past the slots the serialised path looks in one lane when keys have concurrency
 * limits, to find tasks whose key has room.
 */
const LIMITED_SCAN_FACTOR = 10;

/**
 * Most lanes (distinct group and rate key pairs with pending tasks) one claim visits, at
 * least. Each costs one probe of the lane index; the rotation (the queue's lane cursor)
 * reaches the others in the following claims.
 */
const MIN_LANES_PER_CLAIM = 64;
/** ...or this many times the free slots, when that is more. */
const LANES_PER_SLOT = 4;

/** A queue's row as the serialised claim reads it, under its lock. */
type QueueLimits = QueueLimitsRow & {
  paused: boolean;
  lane_cursor_group: string | null;
  lane_cursor_key: string | null;
};

/** Locks the queue's row, creating it when missing (it holds the lane cursor). */
async function lockQueue(db: Db, client: pg.PoolClient, queue: string): Promise<QueueLimits> {
  const select = `SELECT paused, ${QUEUE_LIMITS_COLUMNS}, lane_cursor_group, lane_cursor_key
    FROM ${db.s}.queues WHERE name = $1 FOR UPDATE`;
  const first = await client.query<QueueLimits>(select, [queue]);
  if (first.rows[0]) return first.rows[0];
  await client.query(
    `INSERT INTO ${db.s}.queues (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`,
    [queue],
  );
  const second = await client.query<QueueLimits>(select, [queue]);
  return second.rows[0] as QueueLimits;
}

/**
 * The serialised claim: limits, rate limits, lanes and sticky keys. Its time is `statement_timestamp()`
 * of a statement that runs only once the queue's lock is held, so successive claims of a
 * queue have increasing times; each claimed task's picked_at is that time, and its start can
 * never be recorded earlier (started_at is clamped to picked_at).
 */
export async function claimSerialised(db: Db, a: ClaimArgs): Promise<ClaimRow[]> {
  const { rows, notice } = await withTransaction(db, async (client) => {
    const q = await lockQueue(db, client, a.queue);
    if (q.paused) return { rows: [], notice: null };
    const lanesPerClaim = Math.max(MIN_LANES_PER_CLAIM, a.slots.length * LANES_PER_SLOT);
    const { rows } = await client.query<NoticeRow>({
      name: `taskq_claim_serialised_${db.schema}`,
      text: serialisedClaimSql(db),
      values: [
        a.queue,
        a.handlers,
        a.slots,
        a.leaseMs,
        eventsChannel(db),
        labelsJson(a),
        q.concurrency_limit,
        q.key_concurrency_limit,
        q.rate_limit_count,
        q.rate_limit_period_ms,
        q.key_rate_limit_count,
        q.key_rate_limit_period_ms,
        JSON.stringify(q.group_weights ?? {}),
        // No cursor yet: start below every lane.
        q.lane_cursor_group ?? '',
        q.lane_cursor_key ?? '',
        lanesPerClaim,
        a.slots.length * LIMITED_SCAN_FACTOR,
      ],
    });
    const first = rows[0];
    return {
      rows: claimedRows(rows),
      notice: { lanes: Number(first?.lanes ?? 0) > 0, heldUntil: first?.held_until ?? null },
    };
  });
  if (notice) a.onNotice?.(notice);
  return rows;
}

/**
 * The serialised claim statement (docs/architecture.md, "Rate limits and fair share").
 * Params: $1 queue, $2 handler names, $3 worker id per slot, $4 lease ms, $5 events channel,
 * $6 the claiming workers' labels (json), $7 queue concurrency limit, $8 per-key concurrency
 * limit, $9 and $10 the queue's rate limit (count, period ms), $11 and $12 the per-rate-key
 * limit, $13 group weights (json), $14 and $15 the lane cursor (group, rate key; ('', ''):
 * from the start), $16 lanes to visit, $17 tasks to scan per lane when concurrency keys are
 * limited. Null limits are no limits.
 */
function serialisedClaimSql(db: Db): string {
  const at = 'statement_timestamp()';
  const ms = (p: string) => `(${p})::int * interval '1 millisecond'`;
  // One probe of the lane index: the next lane after (g, k).
  const nextLane = (after: string) => `
    SELECT group_key, rate_key FROM ${db.s}.tasks
    WHERE queue = $1 AND status = 'pending' AND ${LANED} AND (group_key, rate_key) > ${after}
    ORDER BY group_key, rate_key LIMIT 1`;
  const upToCursor = (lane: string) =>
    `(${lane}.group_key, ${lane}.rate_key) <= ($14::text, $15::text)`;
  const servable = `t.scheduled_at <= ${at}
      AND ($2::text[] IS NULL OR t.handler = ANY ($2::text[]))
      AND (t.requires IS NULL OR t.requires <@ $6::jsonb)`;
  // How many tasks to read from one lane of weight `w`: twice its share of the claim (the
  // round robin gives a lane of weight w about w / (sum of the lanes' weights) of it; twice,
  // so that lanes with fewer tasks than their share leave room to the others), or more when
  // keys have concurrency limits (some may have to be passed over); nothing when the budget
  // is spent. Reading every lane up to the whole budget made a claim over 100 groups sort
  // 100 times the tasks it could take.
  const perLane = (w: string) => `CASE WHEN $8::int IS NULL
      THEN least(b.total, ${w} * ceil(2.0 * b.total / (SELECT weights FROM shares))::int)
      ELSE least(b.total, 1) * $17::int END`;
  const weightOf = (group: string) => `coalesce(($13::jsonb ->> ${group})::int, 1)`;
  return `
    WITH RECURSIVE
    -- The lanes (group, rate key) with pending tasks, one index probe each (a loose index
    -- scan): those after the cursor first, then from the start, so successive claims rotate.
    -- No condition here may OR a parameter with the row comparison: a generic plan could
    -- then no longer seek with it, and would walk the whole lane index (a big group's
    -- backlog) to the cursor.
    after_cursor AS (
      (${nextLane('($14::text, $15::text)')})
      UNION ALL
      SELECT n.* FROM after_cursor p CROSS JOIN LATERAL (${nextLane('(p.group_key, p.rate_key)')}) n
    ), from_start AS (
      -- The bound goes outside each probe's LIMIT 1: as an index condition, a row comparison
      -- from above stops the scan only on its first column, so a big lane that shares the
      -- cursor's group would be walked to its end.
      (SELECT * FROM (SELECT group_key, rate_key FROM ${db.s}.tasks
                      WHERE queue = $1 AND status = 'pending' AND ${LANED}
                      ORDER BY group_key, rate_key LIMIT 1) f
       WHERE ${upToCursor('f')})
      UNION ALL
      SELECT n.* FROM from_start p CROSS JOIN LATERAL (${nextLane('(p.group_key, p.rate_key)')}) n
      WHERE ${upToCursor('n')}
    ), lanes AS (
      SELECT group_key, rate_key, part,
        row_number() OVER (ORDER BY part, group_key, rate_key)::numeric AS pos
      FROM ((SELECT 0 AS part, * FROM after_cursor LIMIT $16)
            UNION ALL (SELECT 1 AS part, * FROM from_start LIMIT $16)) l
      ORDER BY pos LIMIT $16
    ), shares AS (
      -- The weights of the lanes this claim visits, the tasks without a group counting as
      -- one more lane of weight 1.
      SELECT coalesce(sum(${weightOf('group_key')}), 0) + 1 AS weights FROM lanes
    ),
    ${rateLedgerCte(db, '$1', at)},
    expired AS (
      -- Entries that can no longer count: never started, or started before every window.
      DELETE FROM ${db.s}.rate_claims r USING ledger g
      WHERE r.task_id = g.task_id AND r.attempt = g.attempt
        AND (g.at IS NULL OR g.at < ${at} - ${ms('greatest(coalesce($10::int, 0), coalesce($12::int, 0))')})
    ), queue_rate AS (
      SELECT $9::int - count(*)::int AS "left", min(at) AS oldest FROM ledger
      WHERE $9::int IS NOT NULL AND at >= ${at} - ${ms('$10')}
    ), key_rate AS (
      SELECT rate_key, $11::int - count(*)::int AS "left", min(at) AS oldest FROM ledger
      WHERE $11::int IS NOT NULL AND rate_key <> '' AND at >= ${at} - ${ms('$12')}
      GROUP BY rate_key
    ), running AS (
      SELECT count(*)::int AS n FROM ${db.s}.tasks WHERE status = 'running' AND queue = $1
    ), key_running AS (
      SELECT concurrency_key, count(*)::int AS n FROM ${db.s}.tasks
      WHERE status = 'running' AND queue = $1 AND concurrency_key IS NOT NULL
      GROUP BY concurrency_key
    ), budget AS (
      -- least() skips nulls: a limit that is not set limits nothing.
      SELECT greatest(0, least(cardinality($3::text[]), $7::int - (SELECT n FROM running),
                               (SELECT "left" FROM queue_rate)))::int AS total
    ), lane_candidates AS (
      SELECT c.*, l.pos FROM lanes l CROSS JOIN budget b
      LEFT JOIN key_rate k ON k.rate_key = l.rate_key
      CROSS JOIN LATERAL (
        SELECT t.id, t.group_key, t.rate_key, t.concurrency_key, t.priority, t.scheduled_at, t.sticky_key
        FROM ${db.s}.tasks t
        WHERE t.queue = $1 AND t.status = 'pending' AND (t.group_key <> '' OR t.rate_key <> '')
          AND t.group_key = l.group_key AND t.rate_key = l.rate_key AND ${servable}
        ORDER BY t.priority DESC, t.scheduled_at, t.id
        -- A rate-limited key's lane gives no more than its key has left.
        LIMIT greatest(0, least(${perLane(weightOf('l.group_key'))},
          CASE WHEN l.rate_key <> '' THEN coalesce(k."left", $11::int) END))
      ) c
    ), plain_candidates AS (
      -- Tasks with neither group nor rate key: one more lane, in the plain claim index. In
      -- the rotation it sits where ('', '') does, below every other lane: it comes right
      -- after the lanes past the cursor.
      SELECT t.id, t.group_key, t.rate_key, t.concurrency_key, t.priority, t.scheduled_at, t.sticky_key,
        (SELECT count(*) FROM lanes WHERE part = 0) + 0.5 AS pos
      FROM ${db.s}.tasks t
      WHERE t.queue = $1 AND t.status = 'pending' AND t.group_key = '' AND t.rate_key = ''
        AND ${servable}
      ORDER BY t.priority DESC, t.scheduled_at, t.id
      LIMIT (SELECT ${perLane('1')} FROM budget b)
    ), ordered AS (
      -- Round robin across groups (no group is a group too): a group's n-th task, in
      -- priority order, comes in round ceil(n / weight); within a round, groups take their
      -- turns in rotation order. Without groups this is plain priority order.
      SELECT c.*, row_number() OVER (ORDER BY c.round, c.group_pos, c.priority DESC, c.scheduled_at, c.id) AS ord
      FROM (
        SELECT c.*,
          ceil(row_number() OVER (PARTITION BY c.group_key ORDER BY c.priority DESC, c.scheduled_at, c.id)::numeric
               / coalesce(($13::jsonb ->> c.group_key)::int, 1)) AS round,
          min(c.pos) OVER (PARTITION BY c.group_key) AS group_pos
        FROM (SELECT * FROM lane_candidates UNION ALL SELECT * FROM plain_candidates) c
      ) c
    ), eligible AS (
      -- Each key takes what it has room for, in claim order.
      SELECT o.id, o.group_key, o.rate_key, o.pos, row_number() OVER (ORDER BY o.ord) AS n
      FROM (
        SELECT o.*,
          row_number() OVER (PARTITION BY o.rate_key ORDER BY o.ord) AS rate_rank,
          row_number() OVER (PARTITION BY o.concurrency_key ORDER BY o.ord) AS key_rank
        FROM ordered o
      ) o
      LEFT JOIN key_rate k ON k.rate_key = o.rate_key
      LEFT JOIN key_running r ON r.concurrency_key = o.concurrency_key
      WHERE (o.rate_key = '' OR $11::int IS NULL OR o.rate_rank <= coalesce(k."left", $11::int))
        AND (o.concurrency_key IS NULL OR $8::int IS NULL OR coalesce(r.n, 0) + o.key_rank <= $8::int)
    ), picked AS (
      SELECT id, n FROM eligible WHERE n <= (SELECT total FROM budget)
    ), locked AS (
      -- Only the picked rows are locked. SKIP LOCKED passes over one a cancel holds, and the
      -- status is checked again on the row as it is now. (An array, for primary-key probes:
      -- see claimChosen.)
      SELECT t.id, t.sticky_key FROM ${db.s}.tasks t
      WHERE t.id = ANY (ARRAY(SELECT id FROM picked)) AND t.status = 'pending'
      FOR UPDATE SKIP LOCKED
    ), chosen AS (
      SELECT p.id, l.sticky_key, row_number() OVER (ORDER BY p.n) AS n
      FROM picked p JOIN locked l ON l.id = p.id
    ), ${claimChosen(db, { at, byIds: true, sticky: true })},
    recorded AS (
      -- The queue's limit counts every claim; a key's limit counts the claims with a rate key.
      INSERT INTO ${db.s}.rate_claims (queue, rate_key, task_id, attempt)
      SELECT queue, rate_key, id, attempt FROM claimed
      WHERE $9::int IS NOT NULL OR ($11::int IS NOT NULL AND rate_key <> '')
      ON CONFLICT DO NOTHING
    ), moved AS (
      -- The rotation goes on after the furthest lane that got a task; when nothing could be
      -- claimed and there are more lanes than one claim visits, after the last one visited.
      UPDATE ${db.s}.queues q SET lane_cursor_group = m.group_key, lane_cursor_key = m.rate_key
      FROM (
        SELECT group_key, rate_key FROM (
          SELECT e.group_key, e.rate_key, e.pos FROM eligible e JOIN chosen c ON c.id = e.id
          UNION ALL
          SELECT group_key, rate_key, pos FROM lanes
          WHERE NOT EXISTS (SELECT 1 FROM chosen) AND (SELECT count(*) FROM lanes) >= $16
        ) x ORDER BY pos DESC LIMIT 1
      ) m
      WHERE q.name = $1
        AND (q.lane_cursor_group, q.lane_cursor_key) IS DISTINCT FROM (m.group_key, m.rate_key)
    ), held AS (
      -- When a used-up limit frees again: as its oldest start leaves the window (a task
      -- claimed now starts now at the earliest). A lower bound: a claim then looks again.
      SELECT least(
        CASE WHEN (SELECT "left" FROM queue_rate) - (SELECT count(*) FROM chosen) <= 0
             THEN coalesce((SELECT oldest FROM queue_rate), ${at}) + ${ms('$10::int + 1')} END,
        (SELECT min(coalesce(k.oldest, ${at}) + ${ms('$12::int + 1')})
         FROM (SELECT DISTINCT rate_key FROM lanes WHERE rate_key <> '') l
         LEFT JOIN key_rate k ON k.rate_key = l.rate_key
         WHERE $11::int IS NOT NULL
           AND coalesce(k."left", $11::int) <= (SELECT count(*) FROM eligible e JOIN chosen c
                                                ON c.id = e.id WHERE e.rate_key = l.rate_key))
      ) AS held_until
    )
    SELECT ${CLAIM_ROW_COLUMNS}, h.held_until,
      -- Lanes, or sticky tasks among what this claim read: either keeps the queue here. (When
      -- the last sticky ones were not read, the common path's probe sends the queue back.)
      (SELECT count(*) FROM lanes)::int
        + (EXISTS (SELECT 1 FROM ordered WHERE sticky_key <> ''))::int AS lanes
    FROM held h CROSS JOIN (SELECT count(*) FROM notified) n
    LEFT JOIN claimed c ON true
    ${CLAIM_ORDER}`;
}
