import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../../lib/fake-clock.js';
import type { Db } from '../../store/db.js';
import { EVENT_DEMAND_TTL_MS } from '../../store/events.js';
import { EventHub } from './event-hub.js';

// The hub is never started here, so its LISTEN connection is never made.
const db = { schema: 'unit', s: '"unit"', url: 'postgres://unused' } as Db;

/**
 * A hub whose demand announcements are recorded. Events went on (by the database clock)
 * `sinceSwitchOnMs(clock)` before each announcement.
 */
function setup(sinceSwitchOnMs: (clock: FakeClock) => number) {
  const clock = new FakeClock({ monotonicMs: 0 });
  const announced: number[] = [];
  const hub = new EventHub(db, pino({ level: 'silent' }), {
    clock,
    store: {
      announceEventDemand: () => {
        announced.push(clock.monotonic());
        return Promise.resolve({ sinceSwitchOnMs: sinceSwitchOnMs(clock) });
      },
    },
  });
  return { clock, hub, announced };
}

describe('EventHub', () => {
  it('announces demand while anyone watches, renewing it well inside its time to live', async () => {
    const { clock, hub, announced } = setup(() => 60_000);
    const renew = EVENT_DEMAND_TTL_MS / 3;
    const unsubscribe = hub.subscribe({}, () => undefined);
    await clock.advanceAsync(3 * renew);
    expect(announced).toEqual([0, renew, 2 * renew, 3 * renew]);

    // The last watcher leaves: demand is left to lapse.
    unsubscribe();
    await clock.advanceAsync(5 * renew);
    expect(announced).toHaveLength(4);
    await hub.stop();
  });

  it('asks its watchers to re-read 1 s and 6 s after it switched events on', async () => {
    // This hub switched events on with its first announcement, at 0.
    const { clock, hub } = setup((c) => c.monotonic());
    const resyncs: number[] = [];
    hub.subscribe(
      {},
      () => undefined,
      () => resyncs.push(clock.monotonic()),
    );
    await clock.advanceAsync(30_000);
    expect(resyncs).toEqual([1000, 6000]);

    // A watcher arriving 3 s after another process switched events on re-reads once, at 6 s.
    const other = setup((c) => c.monotonic() + 3000);
    other.hub.subscribe(
      {},
      () => undefined,
      () => resyncs.push(other.clock.monotonic()),
    );
    await other.clock.advanceAsync(30_000);
    expect(resyncs).toEqual([1000, 6000, 3000]);
    await Promise.all([hub.stop(), other.hub.stop()]);
  });

  it('stops idempotently: subscriptions end, no timer is left, later subscribers hear nothing', async () => {
    const { clock, hub, announced } = setup(() => 0);
    const resyncs: number[] = [];
    hub.subscribe(
      {},
      () => undefined,
      () => resyncs.push(clock.monotonic()),
    );
    await settle();
    const stopping = hub.stop();
    expect(hub.stop()).toBe(stopping);
    await stopping;
    expect(hub.size).toBe(0);
    expect(clock.pending()).toEqual([]);
    hub.subscribe({}, () => undefined);
    expect(hub.size).toBe(0);
    await clock.advanceAsync(60_000);
    expect(announced).toEqual([0]);
    expect(resyncs).toEqual([]);
    // ready() still ends after stop, after at most its own wait.
    let ready = false;
    void hub.ready().then(() => (ready = true));
    await clock.advanceAsync(2000);
    expect(ready).toBe(true);
  });
});
