import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../lib/fake-clock.js';
import type { Db } from '../store/db.js';
import type { AttemptResult, CompletedAttempt } from '../store/types.js';
import { Completer, retryDelayMs } from './completer.js';
import { Registry, type OutgoingMessage } from './registry.js';

const db = {} as Db;

function result(id: string, ok = true): AttemptResult {
  return {
    id,
    attempt: 1,
    workerId: 'w1',
    ok,
    resultJson: null,
    error: ok ? null : 'boom',
    retryable: true,
    executor: 'handler',
    failure: ok ? null : 'error',
    startedAtMs: null,
  };
}

function completed(r: AttemptResult): CompletedAttempt {
  return {
    id: r.id,
    attempt: r.attempt,
    workerId: r.workerId,
    status: r.ok ? 'succeeded' : 'pending',
    scheduledAtMs: 0,
    queue: 'default',
    handler: 'echo',
    startedAtMs: null,
    failure: r.failure,
    traceContext: null,
  };
}

/** What the database does with one completeBatch call, decided by the test. */
type Answer = (batch: AttemptResult[]) => Promise<CompletedAttempt[]>;

/** A completer with one connected worker, whose store the test answers call by call. */
function setup(answer: Answer = (b) => Promise.resolve(b.map(completed))) {
  const clock = new FakeClock();
  const registry = new Registry();
  const told: OutgoingMessage[] = [];
  registry.add(
    {
      id: 'w1',
      name: 'w1',
      queues: ['default'],
      handlers: ['echo'],
      acceptsAnyCommand: false,
      concurrency: 8,
      labels: {},
      version: 'test',
    },
    (m) => told.push(m),
  );
  const batches: Array<{ ids: string[]; at: number }> = [];
  const starts: string[][] = [];
  const completer = new Completer(db, registry, {
    logger: pino({ level: 'silent' }),
    clock,
    store: {
      completeBatch: (_db, batch) => {
        batches.push({ ids: batch.map((r) => r.id), at: clock.monotonic() });
        return answer(batch);
      },
      markStarted: (_db, refs) => {
        starts.push(refs.map((r) => r.id));
        return Promise.resolve(refs.length);
      },
      recordProgress: (_db, updates) => Promise.resolve(updates.length),
    },
  });
  /** The acks the worker received: task id and whether the result counted. */
  const acks = () =>
    told.flatMap((m) => [
      ...(m.accepted?.taskId ?? []).map((id) => [id, true] as const),
      ...(m.refused?.taskId ?? []).map((id) => [id, false] as const),
    ]);
  return { clock, completer, batches, starts, acks };
}

/** Writes that are answered only when the test releases them, one at a time, in order. */
function heldWrites() {
  const pending: Array<() => void> = [];
  const answer: Answer = (b) =>
    new Promise((resolve) => pending.push(() => resolve(b.map(completed))));
  return { answer, release: () => pending.shift()?.() };
}

/** A completer whose write of 'a' is in flight while 'b' waits behind it. */
async function oneInFlightOneQueued() {
  const writes = heldWrites();
  const t = setup(writes.answer);
  t.completer.addResults([result('a')]);
  await settle();
  t.completer.addResults([result('b')]);
  return { ...t, release: writes.release };
}

const transient = () => Object.assign(new Error('terminating connection'), { code: '57P01' });

describe('Completer', () => {
  it('writes a lone result at once, and batches results arriving while a write is in flight', async () => {
    const writes = heldWrites();
    const { completer, batches, acks } = setup(writes.answer);
    completer.addResults([result('a')]);
    await settle();
    expect(batches.map((b) => b.ids)).toEqual([['a']]);

    completer.addResults([result('b')]);
    completer.addResults([result('c'), result('d')]);
    await settle();
    expect(batches).toHaveLength(1); // b, c and d wait for a's statement
    expect(acks()).toEqual([]);

    writes.release();
    await settle();
    expect(acks()).toEqual([['a', true]]);
    expect(batches.map((b) => b.ids)).toEqual([['a'], ['b', 'c', 'd']]);
    writes.release();
    await settle();
    expect(acks()).toEqual([
      ['a', true],
      ['b', true],
      ['c', true],
      ['d', true],
    ]);
    await completer.stop();
  });

  it('folds a start report into the completion when its result comes in the same message', async () => {
    const { completer, batches, starts } = setup();
    completer.addStarts([{ id: 'a', attempt: 1, workerId: 'w1', startedAt: new Date(0) }]);
    completer.addStarts([{ id: 'b', attempt: 1, workerId: 'w1', startedAt: new Date(0) }]);
    completer.addResults([result('a')]);
    await settle();
    expect(starts).toEqual([['b']]);
    expect(batches.map((b) => b.ids)).toEqual([['a']]);
    await completer.stop();
  });

  it('retries on a transient database error with growing backoff, then acknowledges', async () => {
    let calls = 0;
    const { clock, completer, batches, acks } = setup((b) =>
      ++calls <= 2 ? Promise.reject(transient()) : Promise.resolve(b.map(completed)),
    );
    const t0 = clock.monotonic();
    completer.addResults([result('a')]);
    await settle();
    expect(batches).toHaveLength(1);

    await clock.advanceAsync(retryDelayMs(1) - 1);
    expect(batches).toHaveLength(1);
    await clock.advanceAsync(1);
    expect(batches).toHaveLength(2);
    expect(acks()).toEqual([]); // the worker keeps its copy meanwhile

    await clock.advanceAsync(retryDelayMs(2));
    expect(batches.map((b) => b.at - t0)).toEqual([0, 200, 600]);
    expect(acks()).toEqual([['a', true]]);
    await completer.stop();
  });

  it('writes a refused batch one by one, so one bad result does not block the others', async () => {
    const { completer, batches, acks } = setup((b) =>
      b.some((r) => r.id === 'bad')
        ? Promise.reject(Object.assign(new Error('invalid input'), { code: '22P02' }))
        : Promise.resolve(b.map(completed)),
    );
    completer.addResults([result('a'), result('bad'), result('c')]);
    await settle();
    expect(batches.map((b) => b.ids)).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
    expect(acks()).toEqual([
      ['a', true],
      ['bad', false],
      ['c', true],
    ]);
    await completer.stop();
  });

  it('acknowledges a result the fence refused as not accepted', async () => {
    const { completer, acks } = setup(() => Promise.resolve([]));
    completer.addResults([result('stale')]);
    await settle();
    expect(acks()).toEqual([['stale', false]]);
    await completer.stop();
  });

  it('a graceful stop writes everything queued first', async () => {
    const { completer, batches, acks, release } = await oneInFlightOneQueued();
    let stopped = false;
    const stopping = completer.stop().then(() => (stopped = true));
    release();
    await settle();
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(batches.map((b) => b.ids)).toEqual([['a'], ['b']]);
    expect(acks()).toEqual([
      ['a', true],
      ['b', true],
    ]);
    completer.addResults([result('late')]);
    await settle();
    expect(batches).toHaveLength(2); // nothing is written once stopped
  });

  it('a stop with a timeout gives up retrying during an outage, leaving results unacknowledged', async () => {
    const { clock, completer, batches, acks } = setup(() => Promise.reject(transient()));
    completer.addResults([result('a')]);
    await settle();
    let stopped = false;
    void completer.stop({ timeoutMs: 10_000 }).then(() => (stopped = true));
    await clock.advanceAsync(9_999);
    expect(stopped).toBe(false);
    const tries = batches.length;
    expect(tries).toBeGreaterThan(3);
    await clock.advanceAsync(1);
    expect(stopped).toBe(true);
    await clock.advanceAsync(60_000);
    expect(batches).toHaveLength(tries); // no more writes once it gave up
    expect(acks()).toEqual([]); // so the worker resends the result elsewhere
  });

  it('a non-graceful stop ends after the statement in flight and drops what was queued', async () => {
    const { completer, batches, acks, release } = await oneInFlightOneQueued();
    const stopping = completer.stop({ graceful: false });
    release();
    await stopping;
    expect(batches.map((b) => b.ids)).toEqual([['a']]);
    expect(acks()).toEqual([['a', true]]);
  });
});
