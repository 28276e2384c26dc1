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

/** Whether a hello may act for its worker id: `bound`, or why not. */
export type WorkerBinding = 'bound' | 'other_process' | 'other_token';

/**
 * Records a worker's hello, if the id is this worker's to use. The first hello binds the id
 * to the process's instance key (as a hash) and to the token it came with; a later hello
 * with the same id counts only with the same key and the same token (a process that
 * reconnects, to this coordinator or another). When authentication is off (no token), the
 * token is not checked. A reconnecting worker keeps its first_seen_at.
 */
export async function bindWorker(
  db: Db,
  w: WorkerInfo,
  coordinatorId: string,
  identity: { tokenId: string | null; instanceKeyHash: string },
): Promise<WorkerBinding> {
  // Params: $1 id … $9 coordinator, $10 token id, $11 instance key hash
  const { rows } = await db.pool.query<{ bound: boolean; otherToken: boolean }>(
    `WITH bound AS (
       INSERT INTO ${db.s}.workers (id, name, queues, handlers, accepts_any, concurrency, labels,
         version, coordinator_id, token_id, instance_key_hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, queues = excluded.queues,
         handlers = excluded.handlers, accepts_any = excluded.accepts_any,
         concurrency = excluded.concurrency, labels = excluded.labels, version = excluded.version,
         coordinator_id = excluded.coordinator_id, last_seen_at = now(), disconnected_at = NULL,
         token_id = coalesce(workers.token_id, excluded.token_id),
         instance_key_hash = coalesce(workers.instance_key_hash, excluded.instance_key_hash)
       WHERE coalesce(workers.instance_key_hash = excluded.instance_key_hash, true)
         AND (excluded.token_id IS NULL OR coalesce(workers.token_id = excluded.token_id, true))
       RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM bound) AS bound,
       coalesce((SELECT token_id IS DISTINCT FROM $10::uuid AND $10 IS NOT NULL
                 FROM ${db.s}.workers WHERE id = $1), false) AS "otherToken"`,
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
      identity.tokenId,
      identity.instanceKeyHash,
    ],
  );
  const r = rows[0];
  if (r?.bound) return 'bound';
  return r?.otherToken ? 'other_token' : 'other_process';
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

/** Marks a worker's stream as closed, and lets go of the sticky keys it held. */
export async function markWorkerDisconnected(
  db: Db,
  id: string,
  coordinatorId: string,
): Promise<void> {
  // Only the coordinator that holds the stream may mark it closed: the worker may already
  // have reconnected to another one.
  await db.pool.query(
    `WITH closed AS (
       UPDATE ${db.s}.workers SET disconnected_at = now() WHERE id = $1 AND coordinator_id = $2
       RETURNING id)
     DELETE FROM ${db.s}.sticky_holders WHERE worker_id IN (SELECT id FROM closed)`,
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
  requires: Record<string, string> | null = null,
): Promise<boolean> {
  const { rows } = await db.pool.query<{ ok: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM ${db.s}.workers
       WHERE disconnected_at IS NULL AND last_seen_at > now() - $3 * interval '1 millisecond'
         AND $1 = ANY (queues) AND (accepts_any OR $2 = ANY (handlers))
         AND ($4::jsonb IS NULL OR labels @> $4::jsonb)
     ) AS ok`,
    [queue, handler, freshMs, requires ? JSON.stringify(requires) : null],
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

/**
 * The queues and handler names that workers declared in the last day, and the queues with
 * settings: the names /metrics may use as label values. At most `limit` of each.
 */
export async function declaredLabelValues(
  db: Db,
  limit: number,
): Promise<{ queues: string[]; handlers: string[] }> {
  const { rows } = await db.pool.query<{ queues: string[] | null; handlers: string[] | null }>(
    `SELECT
       ARRAY(SELECT q FROM (
         SELECT DISTINCT unnest(queues) AS q FROM ${db.s}.workers
         WHERE last_seen_at > now() - interval '1 day'
         UNION SELECT name FROM ${db.s}.queues) x ORDER BY q LIMIT $1) AS queues,
       ARRAY(SELECT DISTINCT unnest(handlers) AS h FROM ${db.s}.workers
         WHERE last_seen_at > now() - interval '1 day' ORDER BY h LIMIT $1) AS handlers`,
    [limit],
  );
  return { queues: rows[0]?.queues ?? [], handlers: rows[0]?.handlers ?? [] };
}

/** The names workers announced, by id, for those still known. */
export async function workerNames(db: Db, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.pool.query<{ id: string; name: string }>(
    `SELECT id, name FROM ${db.s}.workers WHERE id = ANY ($1::text[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.name]));
}
