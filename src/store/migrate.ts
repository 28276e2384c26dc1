import { readFileSync, readdirSync } from 'node:fs';
import { TASK_LIMITS } from '../lib/limits.js';
import { QUEUE_NAME_MAX_LENGTH, QUEUE_NAME_PATTERN, QUEUE_NAME_RULE } from '../lib/queue-name.js';
import { TIMESTAMP_MAX, TIMESTAMP_MIN } from '../lib/time.js';
import { TASK_DEFAULTS } from './insert.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SchemaTooNewError } from '../lib/errors.js';
import { withTransaction, type Db } from './db.js';

/** One numbered migration file. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Reads `migrations/NNNN_name.sql` in version order. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: readFileSync(join(dir, file), 'utf8'),
    }));
}

/** The migration that created task_rules and taskq.submit(). */
const SQL_SUBMIT_VERSION = 14;

/** What taskq.submit() reads from task_rules: the API's own limits and defaults. */
export function taskRules(): Record<string, unknown> {
  return {
    ...TASK_LIMITS,
    queueLength: QUEUE_NAME_MAX_LENGTH,
    queuePattern: QUEUE_NAME_PATTERN,
    queueRule: QUEUE_NAME_RULE,
    timestampMin: TIMESTAMP_MIN,
    timestampMax: TIMESTAMP_MAX,
    defaults: TASK_DEFAULTS,
  };
}

/** The newest schema version this build knows. */
export function latestVersion(migrations = loadMigrations()): number {
  return migrations.at(-1)?.version ?? 0;
}

/**
 * Brings the schema up to date. Runs in one transaction under a transaction-level
 * advisory lock keyed by the schema, so concurrent starts of many services apply each
 * migration exactly once and the rest wait, then see nothing left to do.
 *
 * @returns the versions applied by this call (empty when already current).
 * @throws SchemaTooNewError when the schema was migrated by a newer release.
 */
export async function migrate(db: Db, migrations = loadMigrations()): Promise<number[]> {
  return withTransaction(db, async (client) => {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('taskq.migrate'), hashtext($1))`, [
      db.schema,
    ]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${db.s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${db.s}.migrations (
         version    integer PRIMARY KEY,
         name       text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ version: number }>(
      `SELECT version FROM ${db.s}.migrations ORDER BY version`,
    );
    const applied = new Set(rows.map((r) => r.version));
    const newest = rows.at(-1)?.version ?? 0;
    const known = latestVersion(migrations);
    if (newest > known) {
      throw new SchemaTooNewError(
        `schema "${db.schema}" is at version ${newest}, but this taskq release knows only up to ${known}. ` +
          `A newer release migrated this database; upgrade taskq (migrations are forward-only).`,
      );
    }
    const done: number[] = [];
    await client.query(`SET LOCAL search_path TO ${db.s}`);
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${db.s}.migrations (version, name) VALUES ($1, $2)`, [
        m.version,
        m.name,
      ]);
      done.push(m.version);
    }
    // The rules taskq.submit() checks, from the constants the API's schemas use.
    if (applied.has(SQL_SUBMIT_VERSION) || done.includes(SQL_SUBMIT_VERSION)) {
      await client.query(
        `INSERT INTO ${db.s}.task_rules (id, rules) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET rules = excluded.rules
         WHERE task_rules.rules IS DISTINCT FROM excluded.rules`,
        [JSON.stringify(taskRules())],
      );
    }
    return done;
  });
}
