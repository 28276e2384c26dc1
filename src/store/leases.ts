import type { Db } from './db.js';
import { eventsChannel, notifyChangesCte } from './events.js';
import { leaderGuardSql, type LeaderTerm } from './leader.js';
import { retryAtSql } from './retry.js';
import type { AttemptRef, HeldAttempt, ReapedTask } from './types.js';

/**
 * Extends the leases of attempts that workers say they still hold, in one statement for
 * every worker heard from in the last interval. Fenced like results: only the worker that
 * holds an attempt extends it. Returns the attempts that were extended; a ref missing from
 * the answer has lost its lease (reaped or cancelled), or was never its reporter's, and its
 * worker should stop.
 */
export async function extendLeases(
  db: Db,
  refs: HeldAttempt[],
  leaseMs: number,
): Promise<HeldAttempt[]> {
  if (refs.length === 0) return [];
  // Params: $1 ids, $2 attempts, $3 lease ms, $4 reporting worker ids
  const { rows } = await db.pool.query<HeldAttempt>({
    name: `taskq_extend_${db.schema}`,
    text: `
      UPDATE ${db.s}.tasks t SET lease_expires_at = now() + $3 * interval '1 millisecond'
      FROM unnest($1::uuid[], $2::int[], $4::text[]) AS r(id, attempt, worker_id)
      WHERE t.id = r.id AND t.attempt = r.attempt AND t.worker_id = r.worker_id
        AND t.status = 'running'
      RETURNING t.id, t.attempt, t.worker_id AS "workerId"`,
    values: [
      refs.map((r) => r.id),
      refs.map((r) => r.attempt),
      leaseMs,
      refs.map((r) => r.workerId),
    ],
  });
  return rows;
}

/**
 * Hands back claimed attempts that never reached a worker (it left or began draining
 * during the claim). They return to pending at once; the attempt number stays used, so
 * fencing holds, and max_attempts grows by one so the attempt that never ran does not
 * count against the task.
 */
export async function releaseClaims(db: Db, refs: AttemptRef[]): Promise<number> {
  if (refs.length === 0) return 0;
  // Params: $1 ids, $2 attempts, $3 events channel
  const { rows } = await db.pool.query<{ n: number }>(
    `WITH released AS (
       UPDATE ${db.s}.tasks t SET status = 'pending', max_attempts = t.max_attempts + 1, worker_id = NULL,
         picked_at = NULL, lease_expires_at = NULL, updated_at = now()
       FROM unnest($1::uuid[], $2::int[]) AS r(id, attempt)
       WHERE t.id = r.id AND t.attempt = r.attempt AND t.status = 'running'
       RETURNING t.id, t.status, t.attempt, t.updated_at, t.queue
     ), ${notifyChangesCte(db, 'released', '$3')}
     SELECT count(*)::int AS n FROM released, (SELECT count(*) FROM notified) AS n`,
    [refs.map((r) => r.id), refs.map((r) => r.attempt), eventsChannel(db)],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Shortens the leases of a worker whose stream closed, so the reaper frees its tasks after
 * `graceMs` rather than a full lease. A worker that reconnects within the grace period
 * extends them again with its next heartbeat.
 */
export async function expireWorkerLeases(
  db: Db,
  workerId: string,
  graceMs: number,
): Promise<number> {
  const { rowCount } = await db.pool.query(
    `UPDATE ${db.s}.tasks SET lease_expires_at = least(lease_expires_at, now() + $2 * interval '1 millisecond')
     WHERE status = 'running' AND worker_id = $1`,
    [workerId, graceMs],
  );
  return rowCount ?? 0;
}

/**
 * Returns expired leases to pending, or to dead when no attempt is left. Only the leader's
 * current term may do it: the statement holds a share lock on the leader row and matches
 * nothing once the term is over, so a paused ex-leader cannot write. Each row is also fenced
 * by its attempt, so a result that races the reaper either lands first (and the task is no
 * longer running) or is rejected afterwards.
 */
export async function reapExpired(db: Db, term: LeaderTerm, limit: number): Promise<ReapedTask[]> {
  // Params: $1 batch limit, $2 role, $3 holder, $4 epoch, $5 events channel
  const { rows } = await db.pool.query<ReapedTask>({
    name: `taskq_reap_${db.schema}`,
    text: `
      WITH lead AS (${leaderGuardSql(db, '$2', '$3', '$4')}),
      expired AS (
        SELECT id FROM ${db.s}.tasks
        WHERE status = 'running' AND lease_expires_at < now() AND EXISTS (SELECT 1 FROM lead)
        ORDER BY lease_expires_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED
      ), done AS (
        UPDATE ${db.s}.tasks t SET
          status = CASE WHEN t.attempt < t.max_attempts THEN 'pending' ELSE 'dead' END,
          -- The task's retry backoff, jittered, as for any failed attempt: the tasks of a
          -- worker that crashed come back at different moments, so the one that crashed it
          -- does not take the same neighbours down with it on every attempt.
          scheduled_at = CASE WHEN t.attempt < t.max_attempts
            THEN ${retryAtSql('t')} ELSE t.scheduled_at END,
          error = 'lease expired: worker ' || coalesce(t.worker_id, '?') || ' stopped sending heartbeats',
          failed_at = now(), lease_expires_at = NULL, updated_at = now()
        FROM expired
        WHERE t.id = expired.id
        RETURNING t.id, t.attempt, t.status, t.updated_at, t.queue, t.handler, t.worker_id, t.picked_at,
          t.started_at, t.error, t.scheduled_at
      ), history AS (
        INSERT INTO ${db.s}.task_attempts
          (task_id, attempt, worker_id, picked_at, started_at, finished_at, outcome, error, leader_epoch)
        SELECT id, attempt, worker_id, picked_at, started_at, now(), 'lease_expired', error, $4 FROM done
        ON CONFLICT DO NOTHING
      ), ${notifyChangesCte(db, 'done', '$5')}
      SELECT id, attempt, status, worker_id AS "workerId", queue, handler,
        scheduled_at AS "scheduledAt"
      FROM done, (SELECT count(*) FROM notified) AS n`,
    values: [limit, term.role, term.holder, term.epoch, eventsChannel(db)],
  });
  return rows;
}
