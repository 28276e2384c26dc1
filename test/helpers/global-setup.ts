import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { EmbeddedPostgres } from '../../src/store/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    /** The embedded server's pg_ctl and data folder, when the tests brought their own. */
    embedded: { pgCtl: string; dataDir: string } | null;
  }
}

/**
 * Tests use DATABASE_URL when it is set, and otherwise start one embedded PostgreSQL for
 * the whole run. Each test file then works in a schema of its own.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.DATABASE_URL;
  if (external) {
    project.provide('databaseUrl', external);
    project.provide('embedded', null);
    return () => Promise.resolve();
  }
  const dir = mkdtempSync(join(tmpdir(), 'taskq-test-pg-'));
  const pg = new EmbeddedPostgres({ dataDir: join(dir, 'data'), ephemeral: true });
  const url = await pg.start();
  const bin = await pg.binaries();
  project.provide('databaseUrl', url);
  project.provide('embedded', { pgCtl: bin.pg_ctl, dataDir: pg.dataDir });
  return async () => {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
