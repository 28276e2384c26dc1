import type { Db } from './db.js';

/** What a worker announced about itself. */
export interface WorkerInfo {
  id: string;
  name: string;
  queues: string[];
  handlers: string[];
  acceptsAnyCommand: boolean;
  concurrency: number;
  labels: Record<string, string>;
  version: string;
}

/** A worker as the registry table holds it. */
export interface WorkerRecord extends WorkerInfo {
  coordinatorId: string | null;
  firstSeenAt: Date;
  lastSeenAt: Date;
  disconnectedAt: Date | null;
}

/** Records a worker's hello. A reconnecting worker keeps its first_seen_at. */
export async function upsertWorker(db: Db, w: WorkerInfo, coordinatorId: string): Promise<void> {
  await db.pool.query(
    `INSERT INTO ${db.s}.workers (id, name, queues, handlers, accepts_any, concurrency, labels, version,
       coordinator_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, queues = excluded.queues,
       handlers = excluded.handlers, accepts_any = excluded.accepts_any,
       concurrency = excluded.concurrency, labels = excluded.labels, version = excluded.version,
       coordinator_id = excluded.coordinator_id, last_seen_at = now(), disconnected_at = NULL`,
    [
      w.id,
      w.name,
      w.queues,
      w.handlers,
      w.acceptsAnyCommand,
      w.concurrency,
      w.labels,
      w.version,
      coordinatorId,
    ],
  );
}

/** Marks workers as seen now: one statement per heartbeat interval for every worker. */
export async function touchWorkers(db: Db, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.pool.query({
    name: `taskq_touch_workers_${db.schema}`,
    text: `UPDATE ${db.s}.workers SET last_seen_at = now() WHERE id = ANY ($1::text[])`,
    values: [ids],
  });
}

/** Marks a worker's stream as closed. */
export async function markWorkerDisconnected(
  db: Db,
  id: string,
  coordinatorId: string,
): Promise<void> {
  // Only the coordinator that holds the stream may mark it closed: the worker may already
  // have reconnected to another one.
  await db.pool.query(
    `UPDATE ${db.s}.workers SET disconnected_at = now() WHERE id = $1 AND coordinator_id = $2`,
    [id, coordinatorId],
  );
}

/**
 * Whether some live worker (seen within `freshMs`) serves `handler` on `queue`.
 * Used to tell a user why a due task is still pending.
 */
export async function hasCapableWorker(
  db: Db,
  queue: string,
  handler: string,
  freshMs: number,
): Promise<boolean> {
  const { rows } = await db.pool.query<{ ok: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM ${db.s}.workers
       WHERE disconnected_at IS NULL AND last_seen_at > now() - $3 * interval '1 millisecond'
         AND $1 = ANY (queues) AND (accepts_any OR $2 = ANY (handlers))
     ) AS ok`,
    [queue, handler, freshMs],
  );
  return rows[0]?.ok ?? false;
}

/** A worker as the API lists it. */
export interface WorkerStatus extends WorkerRecord {
  /** Tasks running on it now, by the database. */
  running: number;
  /** live: heartbeating; silent: stream open but not heard from; disconnected: stream closed. */
  state: 'live' | 'silent' | 'disconnected';
}

/**
 * Workers seen within `sinceMs`, newest first, with their running task counts. One seen
 * within `freshMs` and not disconnected is live.
 */
export async function listWorkers(
  db: Db,
  freshMs: number,
  sinceMs: number,
): Promise<WorkerStatus[]> {
  const { rows } = await db.pool.query<WorkerRecord & { running: number; fresh: boolean }>(
    `SELECT w.id, w.name, w.queues, w.handlers, w.accepts_any AS "acceptsAnyCommand", w.concurrency,
            w.labels, w.version, w.coordinator_id AS "coordinatorId", w.first_seen_at AS "firstSeenAt",
            w.last_seen_at AS "lastSeenAt", w.disconnected_at AS "disconnectedAt",
            coalesce(r.running, 0) AS running,
            w.last_seen_at > now() - $1 * interval '1 millisecond' AS fresh
     FROM ${db.s}.workers w
     LEFT JOIN (SELECT worker_id, count(*)::int AS running FROM ${db.s}.tasks
                WHERE status = 'running' GROUP BY worker_id) r ON r.worker_id = w.id
     WHERE w.last_seen_at > now() - $2 * interval '1 millisecond'
     ORDER BY w.first_seen_at DESC`,
    [freshMs, sinceMs],
  );
  return rows.map(({ fresh, ...w }) => ({
    ...w,
    state: w.disconnectedAt ? 'disconnected' : fresh ? 'live' : 'silent',
  }));
}
