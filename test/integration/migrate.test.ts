import { describe, expect, it } from 'vitest';
import { SchemaTooNewError } from '../../src/lib/errors.js';
import { createDb } from '../../src/store/db.js';
import { latestVersion, migrate } from '../../src/store/migrate.js';
import { databaseUrl, schemaName } from '../helpers/db.js';

describe('migrate', () => {
  it('applies every migration once, even when many processes start at the same moment', async () => {
    const schema = schemaName('mig');
    const pools = Array.from({ length: 5 }, () => createDb({ url: databaseUrl(), schema, max: 2 }));
    try {
      const results = await Promise.all(pools.map((db) => migrate(db)));
      const appliedBy = results.filter((r) => r.length > 0);
      expect(appliedBy).toHaveLength(1);
      expect(appliedBy[0]).toEqual(Array.from({ length: latestVersion() }, (_, i) => i + 1));
      const again = await migrate(pools[0]!);
      expect(again).toEqual([]);
      const { rows } = await pools[0]!.pool.query(`SELECT version FROM "${schema}".migrations`);
      expect(rows.map((r: { version: number }) => r.version)).toEqual(appliedBy[0]);
    } finally {
      await pools[0]!.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await Promise.all(pools.map((db) => db.pool.end()));
    }
  });

  it('refuses a schema migrated by a newer release, with a message that says what to do', async () => {
    const db = createDb({ url: databaseUrl(), schema: schemaName('mig'), max: 2 });
    try {
      await migrate(db);
      await db.pool.query(
        `INSERT INTO ${db.s}.migrations (version, name) VALUES (9999, 'from_the_future')`,
      );
      const err = await migrate(db).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaTooNewError);
      expect((err as Error).message).toMatch(/version 9999.*upgrade taskq/);
    } finally {
      await db.pool.query(`DROP SCHEMA IF EXISTS ${db.s} CASCADE`);
      await db.pool.end();
    }
  });
});
