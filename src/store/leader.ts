import type { Db } from './db.js';

/** A term of leadership: valid while the row still names this holder and epoch. */
export interface LeaderTerm {
  role: string;
  holder: string;
  epoch: number;
}

/**
 * Takes or renews leadership of `role` for `ttlMs`. Succeeds when nobody holds it, the
 * holder's lease ran out, or `holder` already holds it. A new term (a takeover, or a holder
 * coming back after its own lease lapsed) bumps the epoch, so writes stamped with an older
 * epoch are fenced out.
 *
 * @returns the term when `holder` leads, otherwise null.
 */
export async function acquireLeadership(
  db: Db,
  role: string,
  holder: string,
  ttlMs: number,
): Promise<LeaderTerm | null> {
  // Params: $1 role, $2 holder, $3 ttl ms
  const { rows } = await db.pool.query<{ epoch: string }>({
    name: `taskq_leader_acquire_${db.schema}`,
    text: `
      INSERT INTO ${db.s}.leader AS l (role, holder, epoch, acquired_at, expires_at)
      VALUES ($1, $2, 1, now(), now() + $3 * interval '1 millisecond')
      ON CONFLICT (role) DO UPDATE SET
        holder = excluded.holder,
        epoch = CASE WHEN l.holder = excluded.holder AND l.expires_at > now() THEN l.epoch ELSE l.epoch + 1 END,
        acquired_at = CASE WHEN l.holder = excluded.holder AND l.expires_at > now() THEN l.acquired_at ELSE now() END,
        expires_at = excluded.expires_at
      WHERE l.holder = excluded.holder OR l.expires_at <= now()
      RETURNING epoch`,
    values: [role, holder, ttlMs],
  });
  const row = rows[0];
  return row ? { role, holder, epoch: Number(row.epoch) } : null;
}

/** Gives up leadership at once, so another coordinator can take over on its next try. */
export async function releaseLeadership(db: Db, term: LeaderTerm): Promise<void> {
  await db.pool.query(
    `UPDATE ${db.s}.leader SET expires_at = now() WHERE role = $1 AND holder = $2 AND epoch = $3`,
    [term.role, term.holder, term.epoch],
  );
}

/** Who leads `role` now, if anyone. */
export async function currentLeader(
  db: Db,
  role: string,
): Promise<(LeaderTerm & { expiresAt: Date }) | null> {
  const { rows } = await db.pool.query<{ holder: string; epoch: string; expires_at: Date }>(
    `SELECT holder, epoch, expires_at FROM ${db.s}.leader WHERE role = $1 AND expires_at > now()`,
    [role],
  );
  const r = rows[0];
  return r ? { role, holder: r.holder, epoch: Number(r.epoch), expiresAt: r.expires_at } : null;
}

/**
 * SQL for a CTE that yields one row while `term` is current, taking a share lock on the
 * leader row so a takeover waits for the write to commit. Use it as
 * `WITH lead AS (${leaderGuard(db, 'p1', 'p2', 'p3')}) … WHERE EXISTS (SELECT 1 FROM lead)`.
 */
export function leaderGuardSql(db: Db, role: string, holder: string, epoch: string): string {
  return `SELECT 1 FROM ${db.s}.leader
          WHERE role = ${role} AND holder = ${holder} AND epoch = ${epoch} AND expires_at > now()
          FOR SHARE`;
}
