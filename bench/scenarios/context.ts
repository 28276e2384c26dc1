import type pg from 'pg';
import { benchSchema, dropSchema } from '../lib/database.js';
import type { BenchMode, BenchSizes, SystemName } from '../lib/options.js';
import { openPeer } from '../systems/peer.js';
import { openTaskq } from '../systems/taskq.js';
import type { QueueSession, SessionFactory, SessionRoles } from '../systems/types.js';

/** What every scenario gets from the runner. */
export interface RunContext {
  mode: BenchMode;
  sizes: BenchSizes;
  url: string;
  pool: pg.Pool;
}

function factory(system: SystemName, mode: BenchMode): SessionFactory {
  return system === 'taskq' ? openTaskq : openPeer(system, mode === 'smoke');
}

const SHORT: Record<SystemName, string> = {
  taskq: 'tq',
  'graphile-worker-0.17': 'gw17',
  'graphile-worker-0.18': 'gw18',
  'pg-boss-12': 'pb12',
  'bullmq-redis': 'bqr',
  'bullmq-postgres': 'bqp',
};

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
    session = await factory(system, ctx.mode)({ url: ctx.url, pool: ctx.pool, schema }, roles);
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
