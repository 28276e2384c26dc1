import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../lib/fake-clock.js';
import type { Db } from '../store/db.js';
import type { HeldAttempt } from '../store/types.js';
import { LeaseKeeper } from './lease-keeper.js';
import { Registry, type OutgoingMessage } from './registry.js';

const INTERVAL = 1000;
const LEASE = 30_000;
const db = {} as Db;

/** A coordinator's view of two connected workers, recording what each is told. */
function setup(opts: { extend?: (refs: HeldAttempt[]) => Promise<HeldAttempt[]> } = {}) {
  const clock = new FakeClock();
  const registry = new Registry();
  const told = new Map<string, OutgoingMessage[]>();
  for (const id of ['w1', 'w2']) {
    told.set(id, []);
    registry.add(
      {
        id,
        name: id,
        queues: ['default'],
        handlers: [],
        acceptsAnyCommand: true,
        concurrency: 4,
        labels: {},
        version: 'test',
      },
      (m) => told.get(id)?.push(m),
    );
  }
  const writes: Array<{ refs: HeldAttempt[]; leaseMs: number; at: number }> = [];
  const touched: string[][] = [];
  const refused: number[] = [];
  const keeper = new LeaseKeeper(db, registry, {
    leaseMs: LEASE,
    intervalMs: INTERVAL,
    logger: pino({ level: 'silent' }),
    clock,
    onRefused: (n) => refused.push(n),
    store: {
      extendLeases: (_db, refs, leaseMs) => {
        writes.push({ refs, leaseMs, at: clock.monotonic() });
        return opts.extend ? opts.extend(refs) : Promise.resolve(refs);
      },
      touchWorkers: (_db, ids) => {
        touched.push(ids);
        return Promise.resolve();
      },
    },
  });
  return { clock, keeper, told, writes, touched, refused };
}

const ref = (id: string, attempt = 1) => ({ id, attempt });

describe('LeaseKeeper', () => {
  it('writes one extension per interval for all the heartbeats gathered in it', async () => {
    const { clock, keeper, told, writes, touched } = setup();
    const start = clock.monotonic();
    keeper.start();
    keeper.heartbeat('w1', [ref('t1'), ref('t2')]);
    keeper.heartbeat('w2', [ref('t3')]);
    keeper.heartbeat('w1', [ref('t1'), ref('t2')]); // a second heartbeat in the same interval
    await clock.advanceAsync(INTERVAL - 1);
    expect(writes).toEqual([]);

    await clock.advanceAsync(1);
    expect(writes).toHaveLength(1);
    expect(writes[0]?.at).toBe(start + INTERVAL);
    expect(writes[0]?.leaseMs).toBe(LEASE);
    expect(writes[0]?.refs).toEqual([
      { id: 't1', attempt: 1, workerId: 'w1' },
      { id: 't2', attempt: 1, workerId: 'w1' },
      { id: 't3', attempt: 1, workerId: 'w2' },
    ]);
    expect(touched).toEqual([['w1', 'w2']]);
    // Each worker hears that its leases were extended, and is told to abort nothing.
    expect(told.get('w1')).toEqual([{ abort: [], leasesExtended: true }]);
    expect(told.get('w2')).toEqual([{ abort: [], leasesExtended: true }]);

    // Nothing gathered, nothing written.
    await clock.advanceAsync(5 * INTERVAL);
    expect(writes).toHaveLength(1);

    keeper.heartbeat('w2', [ref('t3')]);
    await clock.advanceAsync(INTERVAL);
    expect(writes.map((w) => w.refs.map((r) => r.id))).toEqual([['t1', 't2', 't3'], ['t3']]);
    await keeper.stop();
  });

  it('tells a worker to abort an attempt that was not extended', async () => {
    // The database extends t1 but not t2 (reaped or cancelled meanwhile).
    const { clock, keeper, told, refused } = setup({
      extend: (refs) => Promise.resolve(refs.filter((r) => r.id !== 't2')),
    });
    keeper.start();
    keeper.heartbeat('w1', [ref('t1'), ref('t2', 3)]);
    keeper.heartbeat('w2', [ref('t3')]);
    await clock.advanceAsync(INTERVAL);
    expect(told.get('w1')).toEqual([
      {
        abort: [
          {
            ref: { taskId: 't2', attempt: 3 },
            reason: 'lease lost: the task was reaped or cancelled',
          },
        ],
        leasesExtended: true,
      },
    ]);
    expect(told.get('w2')).toEqual([{ abort: [], leasesExtended: true }]);
    expect(refused).toEqual([1]);
    await keeper.stop();
  });

  it('does not extend attempts whose results came in after the heartbeat', async () => {
    const { clock, keeper, told, writes, refused } = setup();
    keeper.start();
    keeper.heartbeat('w1', [ref('t1'), ref('t2')]);
    keeper.finished([{ id: 't1', attempt: 1, workerId: 'w1' }]);
    await clock.advanceAsync(INTERVAL);
    expect(writes[0]?.refs.map((r) => r.id)).toEqual(['t2']);
    expect(told.get('w1')).toEqual([{ abort: [], leasesExtended: true }]);
    expect(refused).toEqual([]);
    await keeper.stop();
  });

  it('confirms nothing when the write fails, so workers fall back on their own lease timer', async () => {
    const { clock, keeper, told, writes } = setup({
      extend: () => Promise.reject(Object.assign(new Error('down'), { code: '57P01' })),
    });
    keeper.start();
    keeper.heartbeat('w1', [ref('t1')]);
    await clock.advanceAsync(INTERVAL);
    expect(writes).toHaveLength(1);
    expect(told.get('w1')).toEqual([]);
    await keeper.stop();
  });

  it('writes one statement at a time: heartbeats during a slow write go into the next', async () => {
    let release: () => void = () => undefined;
    const { clock, keeper, writes } = setup({
      extend: (refs) =>
        writes.length === 1 ? new Promise((r) => (release = () => r(refs))) : Promise.resolve(refs),
    });
    keeper.start();
    keeper.heartbeat('w1', [ref('t1')]);
    await clock.advanceAsync(INTERVAL); // the first write hangs
    keeper.heartbeat('w1', [ref('t2')]);
    await clock.advanceAsync(3 * INTERVAL);
    keeper.heartbeat('w2', [ref('t3')]);
    expect(writes).toHaveLength(1);
    release();
    await clock.advanceAsync(INTERVAL);
    expect(writes.map((w) => w.refs.map((r) => r.id))).toEqual([['t1'], ['t2', 't3']]);
    await keeper.stop();
  });

  it('stops after the write in flight, and writes nothing more', async () => {
    let release: () => void = () => undefined;
    const { clock, keeper, told, writes } = setup({
      extend: (refs) => new Promise((r) => (release = () => r(refs))),
    });
    keeper.start();
    keeper.heartbeat('w1', [ref('t1')]);
    await clock.advanceAsync(INTERVAL);
    let stopped = false;
    const stopping = keeper.stop().then(() => (stopped = true));
    expect(keeper.stop()).toBe(keeper.stop());
    await settle();
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(told.get('w1')).toEqual([{ abort: [], leasesExtended: true }]);
    expect(clock.pending()).toEqual([]);
    keeper.heartbeat('w1', [ref('t1')]);
    await clock.advanceAsync(10 * INTERVAL);
    expect(writes).toHaveLength(1);
    expect(keeper.state).toBe('stopped');
  });
});
