import type pg from 'pg';
import { benchSchema, dropSchema } from '../lib/database.js';
import type { BenchMode, BenchSizes, SystemName } from '../lib/options.js';
import { openGraphile } from '../systems/graphile.js';
import { openPgBoss } from '../systems/pgboss.js';
import { openTaskq } from '../systems/taskq.js';
import type { QueueSession, SessionFactory, SessionRoles } from '../systems/types.js';

/** What every scenario gets from the runner. */
export interface RunContext {
  mode: BenchMode;
  sizes: BenchSizes;
  url: string;
  pool: pg.Pool;
}

const FACTORIES: Record<SystemName, SessionFactory> = {
  taskq: openTaskq,
  'graphile-worker': openGraphile,
  'pg-boss': openPgBoss,
};

const SHORT: Record<SystemName, string> = { taskq: 'tq', 'graphile-worker': 'gw', 'pg-boss': 'pb' };

/**
 * Opens `system` on a fresh schema, runs `fn`, and always closes the session (stopping its
 * processes and dropping the schema), even when `fn` fails.
 */
export async function withSession<T>(
  ctx: RunContext,
  system: SystemName,
  tag: string,
  roles: SessionRoles,
  fn: (s: QueueSession) => Promise<T>,
): Promise<T> {
  const schema = benchSchema(`${SHORT[system]}_${tag}`);
  let session: QueueSession;
  try {
    session = await FACTORIES[system]({ url: ctx.url, pool: ctx.pool, schema }, roles);
  } catch (err) {
    await dropSchema(ctx.pool, schema).catch(() => undefined);
    throw err;
  }
  let failed = true;
  try {
    const out = await fn(session);
    failed = false;
    return out;
  } finally {
    // A failing close must not hide the scenario's own error.
    await session.close().catch((err: unknown) => {
      if (!failed) throw err;
    });
  }
}
