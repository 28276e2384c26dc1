import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../lib/fake-clock.js';
import type { Db } from '../store/db.js';
import type { LeaderTerm } from '../store/leader.js';
import type { ReapedTask } from '../store/types.js';
import { Reaper } from './reaper.js';

const db = {} as Db;
const INTERVAL = 500;
const BATCH = 2;

function reaped(id: string): ReapedTask {
  return {
    id,
    attempt: 1,
    status: 'pending',
    workerId: 'w1',
    queue: 'q',
    handler: 'h',
    scheduledAt: new Date(0),
  };
}

/** A reaper over `expired` tasks (expired leases), leading while `leading` says so. */
function setup(expired: string[], leading: () => boolean) {
  const clock = new FakeClock({ monotonicMs: 0 });
  const term: LeaderTerm = { role: 'maintenance', holder: 'me', epoch: 3 };
  const returned: string[][] = [];
  const statements: Array<{ at: number; epoch: number }> = [];
  const reaper = new Reaper(db, {
    intervalMs: INTERVAL,
    batch: BATCH,
    logger: pino({ level: 'silent' }),
    clock,
    leadership: { current: () => (leading() ? term : null) },
    onReaped: (t) => returned.push(t.map((r) => r.id)),
    store: {
      reapExpired: (_db, t, limit) => {
        statements.push({ at: clock.monotonic(), epoch: t.epoch });
        return Promise.resolve(expired.splice(0, limit).map(reaped));
      },
    },
  });
  return { clock, reaper, returned, statements, expired };
}

describe('Reaper', () => {
  it('returns expired tasks in batches, under the leader term, once per interval', async () => {
    const { clock, reaper, returned, statements, expired } = setup(
      ['a', 'b', 'c', 'd', 'e'],
      () => true,
    );
    reaper.start();
    await settle();
    // Full batches follow each other at once; a short one ends the run.
    expect(returned).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(statements).toEqual([0, 0, 0].map((at) => ({ at, epoch: 3 })));

    expired.push('f');
    await clock.advanceAsync(INTERVAL);
    expect(returned.at(-1)).toEqual(['f']);
    expect(statements.at(-1)?.at).toBe(INTERVAL);
    await reaper.stop();
  });

  it('does nothing while another coordinator leads', async () => {
    let leading = false;
    const { clock, reaper, returned, statements } = setup(['a'], () => leading);
    reaper.start();
    await clock.advanceAsync(3 * INTERVAL);
    expect(statements).toEqual([]);
    leading = true;
    await clock.advanceAsync(INTERVAL);
    expect(returned).toEqual([['a']]);
    await reaper.stop();
    await clock.advanceAsync(10 * INTERVAL);
    expect(statements).toHaveLength(1);
  });
});
