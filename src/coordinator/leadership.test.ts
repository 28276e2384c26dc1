import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../lib/fake-clock.js';
import type { Db } from '../store/db.js';
import type { LeaderTerm } from '../store/leader.js';
import { LeaderElector } from './leadership.js';

const db = {} as Db;
const TTL = 5000;
const RENEW = 1000;

/** An elector whose database answers as `acquire` says, recording releases and changes. */
function setup(acquire: () => Promise<LeaderTerm | null>) {
  const clock = new FakeClock({ monotonicMs: 0 });
  const released: LeaderTerm[] = [];
  const changes: Array<number | null> = [];
  const elector = new LeaderElector(db, {
    role: 'maintenance',
    holder: 'me',
    ttlMs: TTL,
    renewMs: RENEW,
    logger: pino({ level: 'silent' }),
    clock,
    onChange: (t) => changes.push(t?.epoch ?? null),
    store: {
      acquireLeadership: acquire,
      releaseLeadership: (_db, term) => {
        released.push(term);
        return Promise.resolve();
      },
    },
  });
  return { clock, elector, released, changes };
}

const term: LeaderTerm = { role: 'maintenance', holder: 'me', epoch: 7 };

describe('LeaderElector', () => {
  it('gives up its term once the TTL has surely passed when renewals fail, whatever the wall clock does', async () => {
    let calls = 0;
    const { clock, elector, changes } = setup(() =>
      ++calls === 1 ? Promise.resolve(term) : Promise.reject(new Error('database unreachable')),
    );
    elector.start();
    await settle();
    expect(elector.current()).toEqual(term);

    // Someone steps the wall clock back an hour: the term's end is measured on the monotonic one.
    clock.setWall(clock.now() - 3_600_000);
    await clock.advanceAsync(TTL - 1);
    expect(elector.current()).toEqual(term);
    await clock.advanceAsync(1);
    expect(elector.current()).toBeNull();
    expect(changes).toEqual([7, null]);
    await elector.stop();
  });

  it('a graceful stop hands the role over at once; a non-graceful one leaves it to expire', async () => {
    const graceful = setup(() => Promise.resolve(term));
    graceful.elector.start();
    await settle();
    await graceful.elector.stop();
    expect(graceful.released).toEqual([term]);
    expect(graceful.elector.current()).toBeNull();

    const crash = setup(() => Promise.resolve(term));
    crash.elector.start();
    await settle();
    await crash.elector.stop({ graceful: false });
    expect(crash.released).toEqual([]);
    expect(crash.elector.current()).toBeNull();
    // Nothing is renewed after stop.
    await crash.clock.advanceAsync(10 * RENEW);
    expect(crash.changes).toEqual([7, null]);
  });
});
