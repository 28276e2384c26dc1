import type { Db } from './db.js';
import { leaderGuardSql, type LeaderTerm } from './leader.js';

/**
 * Deletes up to `limit` finished tasks (succeeded, dead, cancelled) last changed more than
 * `olderThanMs` ago, with their attempts, in one statement; and as many sticky keys whose
 * holder is gone (disconnected, or not seen for as long). Only the leader's current term
 * may do it, as for reaping. Oldest first, along the `updated_at` index, so each call reads
 * only rows it may delete (and the few long-pending tasks older than the cutoff).
 * @returns how many tasks were deleted.
 */
export async function deleteFinished(
  db: Db,
  term: LeaderTerm,
  olderThanMs: number,
  limit: number,
): Promise<number> {
  // Params: $1 age in ms, $2 batch limit, $3 role, $4 holder, $5 epoch
  const { rows } = await db.pool.query<{ n: number }>({
    name: `taskq_retention_${db.schema}`,
    text: `
      WITH lead AS (${leaderGuardSql(db, '$3', '$4', '$5')}),
      old AS (
        SELECT id FROM ${db.s}.tasks
        WHERE updated_at < now() - $1::bigint * interval '1 millisecond'
          AND status IN ('succeeded', 'dead', 'cancelled')
          AND EXISTS (SELECT 1 FROM lead)
        ORDER BY updated_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED
      ), gone AS (
        DELETE FROM ${db.s}.tasks t USING old WHERE t.id = old.id RETURNING t.id
      ), history AS (
        DELETE FROM ${db.s}.task_attempts a USING gone WHERE a.task_id = gone.id
      ), holders AS (
        -- Sticky keys held by workers that left without letting go of them (their coordinator
        -- stopped too): not connected, or not seen for as long.
        DELETE FROM ${db.s}.sticky_holders h
        WHERE (h.queue, h.sticky_key) IN (
          SELECT s.queue, s.sticky_key FROM ${db.s}.sticky_holders s
          WHERE NOT EXISTS (
              SELECT 1 FROM ${db.s}.workers w
              WHERE w.id = s.worker_id AND w.disconnected_at IS NULL
                AND w.last_seen_at >= now() - $1::bigint * interval '1 millisecond')
            AND EXISTS (SELECT 1 FROM lead)
          LIMIT $2)
      )
      SELECT count(*)::int AS n FROM gone`,
    values: [olderThanMs, limit, term.role, term.holder, term.epoch],
  });
  return rows[0]?.n ?? 0;
}
