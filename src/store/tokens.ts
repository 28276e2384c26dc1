import { createHash, randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { Db } from './db.js';

/** What a token may do. admin: everything; submit: read and write tasks; read: read only; worker: run tasks. */
export type TokenRole = 'admin' | 'submit' | 'read' | 'worker';
export const TOKEN_ROLES: readonly TokenRole[] = ['admin', 'submit', 'read', 'worker'];

/** A token's record (never the token itself). */
export interface TokenRecord {
  id: string;
  name: string;
  role: TokenRole;
  prefix: string;
  rateLimit: number | null;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** The stored form of a token. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const COLUMNS = `id, name, role, prefix, rate_limit AS "rateLimit", created_at AS "createdAt",
  expires_at AS "expiresAt", revoked_at AS "revokedAt", last_used_at AS "lastUsedAt"`;

/**
 * Creates a token and returns it with its record. The token is `tq_` and 32 random bytes
 * (base64url); only its hash is stored, so this is the one time it can be seen.
 */
export async function createToken(
  db: Db,
  t: { name: string; role: TokenRole; expiresAt?: Date | null; rateLimit?: number | null },
): Promise<{ token: string; record: TokenRecord }> {
  const token = `tq_${randomBytes(32).toString('base64url')}`;
  const { rows } = await db.pool.query<TokenRecord>(
    `INSERT INTO ${db.s}.api_tokens (id, name, role, hash, prefix, rate_limit, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
    [
      uuidv7(),
      t.name,
      t.role,
      hashToken(token),
      token.slice(0, 10),
      t.rateLimit ?? null,
      t.expiresAt ?? null,
    ],
  );
  return { token, record: rows[0] as TokenRecord };
}

/** Every token, newest first. */
export async function listTokens(db: Db): Promise<TokenRecord[]> {
  const { rows } = await db.pool.query<TokenRecord>(
    `SELECT ${COLUMNS} FROM ${db.s}.api_tokens ORDER BY id DESC`,
  );
  return rows;
}

/** Revokes a token by id or name. Returns false when none matched. */
export async function revokeToken(db: Db, idOrName: string): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `UPDATE ${db.s}.api_tokens SET revoked_at = coalesce(revoked_at, now())
     WHERE name = $1 OR id::text = $1`,
    [idOrName],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * The token with this hash, whatever its state; null when unknown. Records the use.
 * `expired` is judged by the database's clock.
 */
export async function findToken(
  db: Db,
  hash: string,
): Promise<(TokenRecord & { expired: boolean }) | null> {
  const { rows } = await db.pool.query<TokenRecord & { expired: boolean }>({
    name: `taskq_find_token_${db.schema}`,
    text: `UPDATE ${db.s}.api_tokens SET last_used_at = now() WHERE hash = $1
           RETURNING ${COLUMNS}, coalesce(expires_at <= now(), false) AS expired`,
    values: [hash],
  });
  return rows[0] ?? null;
}

/** Whether any token is usable now: then every request must carry one. */
export async function authEnabled(db: Db): Promise<boolean> {
  const { rows } = await db.pool.query<{ on: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM ${db.s}.api_tokens
                    WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS on`,
  );
  return rows[0]?.on ?? false;
}

/**
 * Of the tokens `ids`, those no longer usable: revoked, expired (by the database's clock) or
 * deleted. Streams opened with them must end.
 */
export async function unusableTokens(db: Db, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.pool.query<{ id: string }>({
    name: `taskq_unusable_tokens_${db.schema}`,
    text: `SELECT x.id::text AS id FROM unnest($1::uuid[]) AS x(id)
           WHERE NOT EXISTS (SELECT 1 FROM ${db.s}.api_tokens t
                             WHERE t.id = x.id AND t.revoked_at IS NULL
                               AND (t.expires_at IS NULL OR t.expires_at > now()))`,
    values: [ids],
  });
  return rows.map((r) => r.id);
}
