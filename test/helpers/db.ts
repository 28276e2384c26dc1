import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, inject } from 'vitest';
import { createDb, type Db } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';

/** The test run's PostgreSQL (DATABASE_URL, or the embedded one). */
export function databaseUrl(): string {
  return inject('databaseUrl');
}

/** A new schema name, unique to this call. */
export function schemaName(prefix = 't'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/**
 * A migrated schema of this test file's own, and a pool bound to it. The schema is dropped
 * after the file, unless a test failed: then it stays for inspection and its name is printed.
 */
export async function useSchema(): Promise<Db> {
  const db = createDb({ url: databaseUrl(), schema: schemaName(), max: 5 });
  await migrate(db);
  let failed = false;
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    if (failed) {
      process.stderr.write(`kept schema ${db.schema} of a failed test for inspection\n`);
    } else {
      await db.pool.query(`DROP SCHEMA IF EXISTS ${db.s} CASCADE`);
    }
    await db.pool.end();
  });
  return db;
}
