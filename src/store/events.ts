import type { Db } from './db.js';
import { TASK_STATUSES, type HeldAttempt, type TaskStatus } from './types.js';

/**
 * Task events travel on one LISTEN/NOTIFY channel per schema. A notification carries up
 * to {@link EVENTS_PER_NOTIFICATION} lines, one per changed task:
 *
 *     <task id>,<kind>,<attempt>,<updated at, epoch ms>,<queue>[,<percent>,<message>]
 *
 * where kind is the new status, or `progress` (then percent and message follow). Queue names
 * cannot hold commas; a message may, so it comes last.
 */
export interface TaskEvent {
  taskId: string;
  kind: TaskStatus | 'progress';
  attempt: number;
  /** The task's updated_at (or the progress time), epoch ms: the SSE event id. */
  at: number;
  queue: string;
  percent?: number;
  message?: string;
}

/** Lines per notification: keeps every payload under PostgreSQL's 8000-byte limit. */
export const EVENTS_PER_NOTIFICATION = 40;

/** The events channel of a schema. */
export function eventsChannel(db: Db): string {
  return `${db.schema}_events`;
}

/** How long one announcement of demand lasts; watchers renew it well before. */
export const EVENT_DEMAND_TTL_MS = 30_000;

/** The condition under which task events are sent: someone watches (see 0009_event_demand.sql). */
function eventsWanted(db: Db): string {
  return `EXISTS (SELECT 1 FROM ${db.s}.event_demand WHERE until > now())`;
}

/**
 * A CTE named `notified` that announces every row of `source` (which must have id, status,
 * attempt, updated_at and queue) on the events channel given as parameter `channelParam`,
 * while anyone watches ({@link announceEventDemand}); otherwise it sends nothing.
 * The statement must read from `notified` (e.g. `CROSS JOIN (SELECT count(*) FROM notified)`),
 * or PostgreSQL never runs it.
 */
export function notifyChangesCte(db: Db, source: string, channelParam: string): string {
  return `notified AS (
    SELECT pg_notify(${channelParam}, string_agg(line, E'\\n'))
    FROM (
      SELECT id::text || ',' || status || ',' || attempt || ',' ||
               (extract(epoch FROM updated_at) * 1000)::bigint || ',' || queue AS line,
             (row_number() OVER ()) / ${EVENTS_PER_NOTIFICATION} AS chunk
      FROM ${source}
      WHERE ${eventsWanted(db)}
    ) lines
    GROUP BY chunk
  )`;
}

/** What {@link announceEventDemand} learnt. */
export interface EventDemand {
  /** How long ago events last went from off to on, ms by the database clock (0: just now). */
  sinceSwitchOnMs: number;
}

/**
 * Says that this process has watchers, for the next `ttlMs`. When nobody had announced
 * demand before (events were off), this switches them on and records when; any watcher that
 * arrives soon after should re-read, because statements already running did not announce.
 */
export async function announceEventDemand(
  db: Db,
  ttlMs = EVENT_DEMAND_TTL_MS,
): Promise<EventDemand> {
  // The row lock (FOR UPDATE in `old`) orders concurrent announces: the second one sees the
  // first one's `until`, so exactly one of them switches events on.
  const { rows } = await db.pool.query<{ since_ms: number }>(
    `WITH old AS (SELECT until FROM ${db.s}.event_demand WHERE id = 1 FOR UPDATE)
     UPDATE ${db.s}.event_demand d SET until = greatest(d.until, now() + $1 * interval '1 millisecond'),
       switched_on_at = CASE WHEN old.until <= now() THEN now() ELSE d.switched_on_at END
     FROM old WHERE d.id = 1
     RETURNING (extract(epoch FROM now() - d.switched_on_at) * 1000)::float8 AS since_ms`,
    [ttlMs],
  );
  return { sinceSwitchOnMs: rows[0]?.since_ms ?? 0 };
}

const KINDS = new Set<string>([...TASK_STATUSES, 'progress']);

/** One event's line, as {@link notifyChangesCte} writes it from SQL. */
export function eventLine(e: Omit<TaskEvent, 'percent' | 'message'>): string {
  return `${e.taskId},${e.kind},${e.attempt},${e.at},${e.queue}`;
}

/** Parses a notification payload; malformed lines are skipped. */
export function parseEvents(payload: string): TaskEvent[] {
  const out: TaskEvent[] = [];
  for (const line of payload.split('\n')) {
    const parts = line.split(',');
    if (parts.length < 5) continue;
    const [taskId = '', kind = '', attempt = '', at = '', queue = ''] = parts;
    if (!KINDS.has(kind)) continue;
    const ev: TaskEvent = {
      taskId,
      kind: kind as TaskEvent['kind'],
      attempt: Number(attempt),
      at: Number(at),
      queue,
    };
    if (kind === 'progress') {
      ev.percent = Number(parts[5] ?? 0);
      ev.message = parts.slice(6).join(',');
    }
    out.push(ev);
  }
  return out;
}

/** Progress reported by one running attempt. */
export interface ProgressUpdate extends HeldAttempt {
  percent: number;
  message: string;
}

/**
 * Stores the latest progress of running attempts (fenced) and announces it, one statement
 * per batch. Progress is a live signal: it is kept on the task, not as a history.
 */
export async function recordProgress(db: Db, updates: ProgressUpdate[]): Promise<number> {
  if (updates.length === 0) return 0;
  // Params: $1 ids, $2 attempts, $3 percents, $4 messages, $5 events channel,
  // $6 reporting worker ids
  const { rows } = await db.pool.query<{ stored: number }>({
    name: `taskq_progress_${db.schema}`,
    text: `
      WITH upd AS (
        UPDATE ${db.s}.tasks t SET progress_percent = p.percent, progress_message = p.message
        FROM unnest($1::uuid[], $2::int[], $3::real[], $4::text[], $6::text[])
          AS p(id, attempt, percent, message, worker_id)
        WHERE t.id = p.id AND t.attempt = p.attempt AND t.worker_id = p.worker_id
          AND t.status = 'running'
        RETURNING t.id, t.attempt, t.queue, p.percent, p.message
      ), notified AS (
        SELECT pg_notify($5, string_agg(line, E'\\n'))
        FROM (
          SELECT id::text || ',progress,' || attempt || ',' || (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                 || ',' || queue || ',' || percent || ',' || left(message, 120) AS line,
                 (row_number() OVER ()) / 20 AS chunk
          FROM upd
          WHERE ${eventsWanted(db)}
        ) lines
        GROUP BY chunk
      )
      SELECT (SELECT count(*) FROM upd)::int AS stored, (SELECT count(*) FROM notified) AS n`,
    values: [
      updates.map((u) => u.id),
      updates.map((u) => u.attempt),
      updates.map((u) => u.percent),
      updates.map((u) => u.message),
      eventsChannel(db),
      updates.map((u) => u.workerId),
    ],
  });
  return rows[0]?.stored ?? 0;
}

/** A task's current state, as a change replayed to a watcher that resumes. */
export interface TaskChange {
  taskId: string;
  queue: string;
  status: string;
  attempt: number;
  /** updated_at, epoch ms: the event id. */
  at: number;
}

/**
 * The tasks (of `queue`) changed after `sinceMs`, with their current state, newest first: at
 * most `limit` (from the updated_at index). Missed intermediate states fold into the latest.
 */
export async function changedSince(
  db: Db,
  sinceMs: number,
  queue: string | null,
  limit: number,
): Promise<TaskChange[]> {
  // Params: $1 since (epoch ms), $2 queue or null, $3 limit
  const { rows } = await db.pool.query<Omit<TaskChange, 'at'> & { at: string }>(
    `SELECT id AS "taskId", queue, status, attempt,
            (extract(epoch FROM updated_at) * 1000)::bigint AS at
     FROM ${db.s}.tasks
     WHERE updated_at > to_timestamp($1 / 1000.0) AND ($2::text IS NULL OR queue = $2)
     ORDER BY updated_at DESC LIMIT $3`,
    [sinceMs, queue, limit],
  );
  return rows.map((r) => ({ ...r, at: Number(r.at) }));
}
