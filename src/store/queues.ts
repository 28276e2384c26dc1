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
  rateLimit: RateLimit | null;
  keyRateLimit: RateLimit | null;
  groupWeights: Record<string, number> | null;
}

/** At most `count` task starts in any window of `periodMs`. */
export interface RateLimit {
  count: number;
  periodMs: number;
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
  /** Most starts of the queue's tasks per period, across all coordinators. */
  rateLimit?: RateLimit | null;
  /** Most starts of tasks with the same rate_key per period. */
  keyRateLimit?: RateLimit | null;
  /** Each group's weight in the round robin (absent: 1). */
  groupWeights?: Record<string, number> | null;
}

/** The limit and fair-share columns of a queues row, as pg returns them. */
export interface QueueLimitsRow {
  concurrency_limit: number | null;
  key_concurrency_limit: number | null;
  rate_limit_count: number | null;
  rate_limit_period_ms: number | null;
  key_rate_limit_count: number | null;
  key_rate_limit_period_ms: number | null;
  group_weights: Record<string, number> | null;
}

/** The columns of {@link QueueLimitsRow}. */
export const QUEUE_LIMITS_COLUMNS = `concurrency_limit, key_concurrency_limit, rate_limit_count,
  rate_limit_period_ms, key_rate_limit_count, key_rate_limit_period_ms, group_weights`;

/**
 * Every queue that has live work, dead tasks or settings, with its depth. Counts read the
 * partial claim and lease indexes (pending, running) and the status index (dead), never
 * the finished history.
 */
export async function listQueues(db: Db, name?: string): Promise<QueueInfo[]> {
  const { rows } = await db.pool.query<
    QueueLimitsRow & {
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
    }
  >(
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
       ${QUEUE_LIMITS_COLUMNS}
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
    rateLimit: rateLimitOf(r.rate_limit_count, r.rate_limit_period_ms),
    keyRateLimit: rateLimitOf(r.key_rate_limit_count, r.key_rate_limit_period_ms),
    groupWeights: r.group_weights,
  }));
}

function rateLimitOf(count: number | null, periodMs: number | null): RateLimit | null {
  return count === null || periodMs === null ? null : { count, periodMs };
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
    ['rate_limit_count', s.rateLimit === undefined ? undefined : (s.rateLimit?.count ?? null)],
    [
      'rate_limit_period_ms',
      s.rateLimit === undefined ? undefined : (s.rateLimit?.periodMs ?? null),
    ],
    [
      'key_rate_limit_count',
      s.keyRateLimit === undefined ? undefined : (s.keyRateLimit?.count ?? null),
    ],
    [
      'key_rate_limit_period_ms',
      s.keyRateLimit === undefined ? undefined : (s.keyRateLimit?.periodMs ?? null),
    ],
    [
      'group_weights',
      s.groupWeights === undefined
        ? undefined
        : s.groupWeights === null
          ? null
          : JSON.stringify(s.groupWeights),
    ],
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

/**
 * Due pending tasks in `queue`, counted up to `cap` (so the cost is bounded). Plain tasks and
 * those with a group or a rate key are in two claim indexes (migration 0016): each is read
 * through its own.
 */
export async function countDue(db: Db, queue: string, cap: number): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (
       (SELECT 1 FROM ${db.s}.tasks WHERE status = 'pending' AND queue = $1
          AND group_key = '' AND rate_key = '' AND scheduled_at <= now() LIMIT $2)
       UNION ALL
       (SELECT 1 FROM ${db.s}.tasks WHERE status = 'pending' AND queue = $1
          AND (group_key <> '' OR rate_key <> '') AND scheduled_at <= now() LIMIT $2)
       LIMIT $2
     ) due`,
    [queue, cap],
  );
  return rows[0]?.n ?? 0;
}

/**
 * The rate ledger of the queue named by `queueParam`, as a CTE `ledger(task_id, attempt,
 * rate_key, at)`: each attempt claimed while the queue had a rate limit, with the time it
 * started. That is read from the task while the attempt is its current one, else from
 * task_attempts; an attempt that is running but has not reported its start counts as
 * starting at `at` (it cannot start earlier than its claim); null: it ended without starting,
 * or the task is gone. The one place that says what counts against a rate limit, for the
 * claim and for waiting_for alike.
 */
export function rateLedgerCte(db: Db, queueParam: string, at: string): string {
  return `ledger AS (
    SELECT l.task_id, l.attempt, l.rate_key,
      CASE WHEN t.attempt = l.attempt AND t.status = 'running' AND t.started_at IS NULL THEN ${at}
           WHEN t.attempt = l.attempt THEN t.started_at
           ELSE a.started_at END AS at
    FROM ${db.s}.rate_claims l
    LEFT JOIN ${db.s}.tasks t ON t.id = l.task_id
    LEFT JOIN ${db.s}.task_attempts a ON a.task_id = l.task_id AND a.attempt = l.attempt
    WHERE l.queue = ${queueParam}
  )`;
}

/** A rate limit that is used up, and when it frees. */
export interface RateLimitHold {
  /** `queue`: the queue's own limit; `key`: the limit of the task's rate key. */
  scope: 'queue' | 'key';
  limit: RateLimit;
  /** The earliest instant (database clock) a task held back by it may start. */
  until: Date;
}

/**
 * Whether a task of `queue` with `rateKey` would be held back by a rate limit now, and until
 * when: the limit frees once its N-th newest start leaves the window. When both limits are
 * used up, the one that frees later.
 */
export async function rateLimitHold(
  db: Db,
  queue: string,
  rateKey: string | null,
): Promise<RateLimitHold | null> {
  const at = 'statement_timestamp()';
  // Params: $1 queue, $2 rate key ('' for none)
  const { rows } = await db.pool.query<{
    qn: number | null;
    qp: number | null;
    kn: number | null;
    kp: number | null;
    q_until: Date | null;
    k_until: Date | null;
  }>(
    `WITH ${rateLedgerCte(db, '$1', at)},
     q AS (
       SELECT rate_limit_count AS qn, rate_limit_period_ms AS qp,
              key_rate_limit_count AS kn, key_rate_limit_period_ms AS kp
       FROM ${db.s}.queues WHERE name = $1
     )
     SELECT q.*,
       (SELECT (array_agg(at ORDER BY at DESC))[q.qn] FROM ledger
        WHERE q.qn IS NOT NULL AND at >= ${at} - q.qp * interval '1 millisecond')
         + (q.qp + 1) * interval '1 millisecond' AS q_until,
       (SELECT (array_agg(at ORDER BY at DESC))[q.kn] FROM ledger
        WHERE q.kn IS NOT NULL AND $2 <> '' AND rate_key = $2
          AND at >= ${at} - q.kp * interval '1 millisecond')
         + (q.kp + 1) * interval '1 millisecond' AS k_until
     FROM q`,
    [queue, rateKey ?? ''],
  );
  const r = rows[0];
  if (!r) return null;
  const holds: RateLimitHold[] = [];
  if (r.q_until && r.qn !== null && r.qp !== null)
    holds.push({ scope: 'queue', limit: { count: r.qn, periodMs: r.qp }, until: r.q_until });
  if (r.k_until && r.kn !== null && r.kp !== null)
    holds.push({ scope: 'key', limit: { count: r.kn, periodMs: r.kp }, until: r.k_until });
  holds.sort((a, b) => b.until.getTime() - a.until.getTime());
  return holds[0] ?? null;
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
