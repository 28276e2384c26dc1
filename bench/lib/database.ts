import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** The default server: a local PostgreSQL with trust authentication. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database the bench can use, and how to let go of it. */
export interface BenchDatabase {
  url: string;
  /** A small pool for the harness's own queries (loading backlogs, counting, dropping). */
  pool: pg.Pool;
  /** Closes the pool, and stops the embedded server if the bench started one. */
  close(): Promise<void>;
}

/**
 * Connects to `url`, or to DATABASE_URL, or to the default local server. When nothing
 * answers and no URL was given explicitly, starts an embedded PostgreSQL in a temporary
 * folder (the same way the tests do) and removes it on close.
 * @throws Error when an explicitly named server cannot be reached.
 */
export async function openBenchDatabase(url?: string): Promise<BenchDatabase> {
  const explicit = url ?? process.env.DATABASE_URL;
  const target = explicit ?? DEFAULT_DATABASE_URL;
  if (await reachable(target)) return withPool(target, () => Promise.resolve());
  if (explicit) throw new Error(`cannot reach PostgreSQL at ${redact(target)}`);
  // Loaded only when needed: the embedded server's binaries are a large optional package.
  const { EmbeddedPostgres } = await import('../../src/store/embedded.js');
  const dir = mkdtempSync(join(tmpdir(), 'taskq-bench-pg-'));
  const server = new EmbeddedPostgres({ dataDir: join(dir, 'data'), ephemeral: true });
  const embeddedUrl = await server.start();
  return withPool(embeddedUrl, async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
}

function withPool(url: string, stop: () => Promise<void>): BenchDatabase {
  const pool = new pg.Pool({ connectionString: url, max: 4, application_name: 'taskq-bench' });
  pool.on('error', () => undefined);
  return {
    url,
    pool,
    async close() {
      await pool.end();
      await stop();
    },
  };
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/**
 * A fresh schema name for one scenario of one system: `bench_<tag>_<random>`, lower-case,
 * within the 40 characters a taskq schema may have.
 */
export function benchSchema(tag: string): string {
  const clean = tag
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 20);
  return `bench_${clean}_${randomBytes(4).toString('hex')}`;
}

/**
 * ANALYZEs every table of a schema, as autovacuum soon would after a burst of inserts, so
 * that no statement is planned on an empty table's guesses.
 */
export async function analyzeSchema(pool: pg.Pool, schema: string): Promise<void> {
  const { rows } = await pool.query<{ t: string }>(
    `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname = $1`,
    [schema],
  );
  for (const { t } of rows) await pool.query(`ANALYZE ${t}`);
}

/** SQL for a timestamp expression as ms since the epoch (float8). */
export function epochMs(expr: string): string {
  return `(extract(epoch FROM ${expr}) * 1000)::float8`;
}

/** Drops a schema and everything in it. */
export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** Runs `fn` in a transaction on one client of `pool`. */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
