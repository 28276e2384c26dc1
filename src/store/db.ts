import pg from 'pg';
import type { Logger } from 'pino';
import { ConfigError } from '../lib/errors.js';

/**
 * A pool bound to one schema. Every store module takes a `Db` and builds its SQL against
 * `db.s`, the quoted schema name, so that several schemas (test files, tenants) can share a
 * server without `search_path` tricks that PgBouncer in transaction mode would break.
 */
export interface Db {
  readonly pool: pg.Pool;
  /** The schema name, unquoted. */
  readonly schema: string;
  /** The schema name, quoted for SQL. */
  readonly s: string;
  /** The connection string the pool uses. */
  readonly url: string;
}

/** Options for {@link createDb}. */
export interface DbOptions {
  /** PostgreSQL connection string. */
  url: string;
  /** Schema holding every table. @default 'taskq' */
  schema?: string;
  /** Pool size. @default 10 */
  max?: number;
  /** Shown in pg_stat_activity. @default 'taskq' */
  applicationName?: string;
  logger?: Logger;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;

/**
 * Checks a schema name: lower-case letters, digits and underscores, at most 40 characters
 * (channel names derived from it must fit PostgreSQL's 63-byte identifier limit).
 * @throws ConfigError naming the bad value.
 */
export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new ConfigError(
      `schema "${schema}" is not allowed: use lower-case letters, digits and underscores (at most 40), starting with a letter`,
    );
  }
  return schema;
}

/** Opens a pool for `options.url`, bound to `options.schema`. */
export function createDb(options: DbOptions): Db {
  const schema = checkSchemaName(options.schema ?? 'taskq');
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'taskq',
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    // A client cut off by a partition in the middle of a transaction would hold its row locks
    // until the server noticed the dead connection (hours, with default keepalives), and
    // SKIP LOCKED would skip those rows for everyone else. Every transaction here takes
    // milliseconds, so the server may end one that sits idle for seconds.
    idle_in_transaction_session_timeout: 5000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 5000,
  });
  // An idle client whose server went away emits here; without a listener it would crash
  // the process. The next query reconnects.
  pool.on('error', (err) =>
    options.logger?.warn({ err: err.message }, 'idle database connection lost'),
  );
  return { pool, schema, s: `"${schema}"`, url: options.url };
}

/** Deadlocks with a concurrent batch (completions, claims) are retried this many times. */
const DEADLOCK_RETRIES = 3;

/** PostgreSQL aborted the transaction to break a deadlock (SQLSTATE 40P01). */
function isDeadlock(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '40P01';
}

/**
 * Runs `fn` in a transaction (see {@link withTransaction}), and again, from the start, when
 * PostgreSQL ends it to break a deadlock: for statements that lock rows in an order a
 * concurrent completion may lock the other way (a parent and its children).
 */
export async function withDeadlockRetry<T>(
  db: Db,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(db, fn);
    } catch (err) {
      if (attempt >= DEADLOCK_RETRIES || !isDeadlock(err)) throw err;
    }
  }
}

/** Runs `fn` inside a transaction on one client, rolling back if it throws. */
export async function withTransaction<T>(
  db: Db,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
