import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS } from '../lib/clock.js';
import { FakeClock, settle } from '../lib/fake-clock.js';
import type { ClaimArgs } from '../store/claim.js';
import type { Db } from '../store/db.js';
import type { AttemptRef, ClaimedTask } from '../store/types.js';
import { Dispatcher } from './dispatcher.js';
import { Registry, type OutgoingMessage, type WorkerSession } from './registry.js';

const db = {} as Db;
const SECOND = 1000;
const DAY = 86_400_000;
const POLL = 60 * SECOND;
const SILENT_AFTER = 2500;

/**
 * The database as the dispatcher sees it, in memory: pending tasks with due times on the
 * database's clock, which runs `offsetMs` ahead of ours. Only the dispatcher's own logic
 * is under test here; the statements themselves are tested against PostgreSQL.
 */
class FakeTasks {
  readonly due = new Map<string, number>();
  readonly claims: Array<{ at: number; slots: string[]; got: string[] }> = [];
  readonly released: AttemptRef[][] = [];
  /** When set, the next claim waits for the test to call it. */
  hold: ((answer: () => void) => void) | undefined;

  constructor(
    private readonly clock: FakeClock,
    readonly offsetMs = 0,
  ) {}

  dbNow(): number {
    return this.clock.now() + this.offsetMs;
  }

  readonly store = {
    limitedQueues: () => Promise.resolve(new Set<string>()),
    nextDueAt: () => {
      const future = [...this.due.values()].filter((at) => at > this.dbNow());
      const next = future.length > 0 ? new Date(Math.min(...future)) : null;
      return Promise.resolve({ next, dbNow: new Date(this.dbNow()) });
    },
    claimDue: (_db: Db, args: ClaimArgs): Promise<ClaimedTask[]> => {
      const claim = () => {
        const ids = [...this.due].filter(([, at]) => at <= this.dbNow()).map(([id]) => id);
        const got = ids.slice(0, args.slots.length);
        for (const id of got) this.due.delete(id);
        this.claims.push({ at: this.clock.now(), slots: args.slots, got });
        return got.map((id, i) => claimed(id, args.slots[i] ?? '?', args.queue));
      };
      const hold = this.hold;
      if (!hold) return Promise.resolve(claim());
      this.hold = undefined;
      return new Promise((resolve) => hold(() => resolve(claim())));
    },
    releaseClaims: (_db: Db, refs: AttemptRef[]) => {
      this.released.push(refs.map((r) => ({ id: r.id, attempt: r.attempt })));
      return Promise.resolve(refs.length);
    },
  };
}

function claimed(id: string, workerId: string, queue: string): ClaimedTask {
  return {
    id,
    attempt: 1,
    workerId,
    command: 'echo hi',
    payloadJson: null,
    queue,
    timeoutMs: null,
    maxAttempts: 3,
    scheduledAtMs: 0,
    dueAtMs: 0,
    traceContext: null,
  } as ClaimedTask;
}

/** A dispatcher with one connected worker holding `credits` free slots. */
function setup(opts: { offsetMs?: number; credits?: number } = {}) {
  const clock = new FakeClock();
  const tasks = new FakeTasks(clock, opts.offsetMs ?? 0);
  const registry = new Registry();
  const told: OutgoingMessage[] = [];
  const session = registry.add(
    {
      id: 'w1',
      name: 'w1',
      queues: ['default'],
      handlers: ['echo'],
      acceptsAnyCommand: false,
      concurrency: 4,
      labels: {},
      version: 'test',
    },
    (m) => told.push(m),
  );
  session.credits = opts.credits ?? 4;
  hear(session, clock);
  const dispatcher = new Dispatcher(db, registry, {
    leaseMs: 30 * SECOND,
    pollMs: POLL,
    silentAfterMs: SILENT_AFTER,
    logger: pino({ level: 'silent' }),
    clock,
    store: tasks.store,
  });
  /** The tasks handed to the worker so far. */
  const assigned = () => told.flatMap((m) => m.assigned?.taskId ?? []);
  return { clock, tasks, registry, session, dispatcher, assigned };
}

/** The worker spoke just now (the gateway does this on every message). */
function hear(session: WorkerSession, clock: FakeClock): void {
  session.lastSeenAt = clock.now();
}

describe('Dispatcher', () => {
  it('arms its timer for the next due time, on the database clock, and hands the task over then', async () => {
    // The database clock runs 10 s ahead of ours; the task is due 5 s from now by it.
    const { clock, tasks, dispatcher, assigned, session } = setup({ offsetMs: 10 * SECOND });
    tasks.due.set('t1', tasks.dbNow() + 5 * SECOND);
    const t0 = clock.now();
    dispatcher.start();
    await settle();
    expect(clock.pending()).toEqual([5 * SECOND, POLL]);

    await clock.advanceAsync(5 * SECOND - 1);
    hear(session, clock);
    expect(assigned()).toEqual([]);
    await clock.advanceAsync(1);
    expect(assigned()).toEqual(['t1']);
    expect(tasks.claims.filter((c) => c.got.length > 0).map((c) => c.at - t0)).toEqual([
      5 * SECOND,
    ]);
    await dispatcher.stop();
  });

  it('re-arms sooner when told of a task due earlier than the one it waits for', async () => {
    const { clock, tasks, dispatcher, assigned, session } = setup();
    tasks.due.set('later', tasks.dbNow() + 20 * SECOND);
    dispatcher.start();
    await settle();
    expect(clock.pending()).toEqual([20 * SECOND, POLL]);

    // A retry comes back due in 3 s (the completer passes its due time on).
    tasks.due.set('retry', tasks.dbNow() + 3 * SECOND);
    dispatcher.dueSoon(tasks.dbNow() + 3 * SECOND);
    expect(clock.pending()).toEqual([3 * SECOND, POLL]);
    await clock.advanceAsync(3 * SECOND - 1);
    hear(session, clock);
    await clock.advanceAsync(1);
    expect(assigned()).toEqual(['retry']);
    // On firing it asked for the next due time again, and waits for the later task.
    expect(clock.pending()).toEqual([17 * SECOND, POLL - 3 * SECOND]);
    await dispatcher.stop();
  });

  it("never arms past Node's 24.8-day limit: a task due in 60 days is handed over on its day", async () => {
    const { clock, tasks, dispatcher, assigned, session } = setup();
    const dueIn = 60 * DAY + 30 * 60 * SECOND + 7;
    tasks.due.set('far', tasks.dbNow() + dueIn);
    const t0 = clock.now();
    dispatcher.start();
    await settle();
    expect(clock.pending()).toEqual([POLL, MAX_TIMER_MS]);

    // An unclamped timer would fire after 1 ms and wake the dispatcher in a loop.
    await clock.advanceAsync(POLL - 1);
    expect(tasks.claims).toHaveLength(1); // the one claim of start()

    for (let left = dueIn - (POLL - 1); left > 0; left -= Math.min(left, DAY)) {
      hear(session, clock);
      await clock.advanceAsync(Math.min(left, DAY) - 1);
      hear(session, clock);
      await clock.advanceAsync(1);
    }
    expect(assigned()).toEqual(['far']);
    expect(tasks.claims.filter((c) => c.got.length > 0).map((c) => c.at - t0)).toEqual([dueIn]);
    await dispatcher.stop();
  });

  it('polls as a fallback: a task nobody announced is handed over at the next poll', async () => {
    const { clock, tasks, dispatcher, assigned, session } = setup();
    dispatcher.start();
    await settle();
    expect(tasks.claims).toHaveLength(1);

    // Inserted elsewhere, with no NOTIFY reaching us (LISTEN down).
    tasks.due.set('quiet', tasks.dbNow());
    // Credits coming back do not re-claim a group whose last claim came back short.
    dispatcher.creditsAvailable();
    await clock.advanceAsync(POLL - 1);
    expect(tasks.claims).toHaveLength(1);
    expect(assigned()).toEqual([]);

    hear(session, clock);
    await clock.advanceAsync(1);
    expect(tasks.claims).toHaveLength(2);
    expect(assigned()).toEqual(['quiet']);
    await dispatcher.stop();
  });

  it('gives a silent worker nothing until it speaks again', async () => {
    const { clock, tasks, dispatcher, assigned, session } = setup();
    tasks.due.set('t1', tasks.dbNow());
    session.lastSeenAt = clock.now() - SILENT_AFTER - 1;
    dispatcher.start();
    await settle();
    expect(tasks.claims).toHaveLength(0);
    expect(assigned()).toEqual([]);

    hear(session, clock);
    dispatcher.creditsAvailable();
    await settle();
    expect(assigned()).toEqual(['t1']);
    await dispatcher.stop();
  });

  it('spreads a claim over the free slots and stops at the credits the worker gave', async () => {
    const { tasks, dispatcher, assigned, session } = setup({ credits: 2 });
    for (const id of ['a', 'b', 'c']) tasks.due.set(id, tasks.dbNow());
    dispatcher.start();
    await settle();
    expect(tasks.claims[0]?.slots).toEqual(['w1', 'w1']);
    expect(assigned()).toEqual(['a', 'b']);
    expect(session.credits).toBe(0);

    session.credits = 1; // one handler finished
    dispatcher.creditsAvailable();
    await settle();
    expect(assigned()).toEqual(['a', 'b', 'c']);
    await dispatcher.stop();
  });

  it('gives back at once the tasks claimed for a worker that left during the claim', async () => {
    const { tasks, registry, session, dispatcher, assigned } = setup();
    tasks.due.set('t1', tasks.dbNow());
    let answer: () => void = () => undefined;
    tasks.hold = (a) => (answer = a);
    dispatcher.start();
    await settle();
    registry.remove(session);
    answer();
    await settle();
    expect(assigned()).toEqual([]);
    expect(tasks.released).toEqual([[{ id: 't1', attempt: 1 }]]);
    await dispatcher.stop();
  });

  it('stops cleanly: the claim in flight is delivered, then nothing runs and no timer is left', async () => {
    const { clock, tasks, dispatcher, assigned } = setup();
    tasks.due.set('t1', tasks.dbNow());
    tasks.due.set('t2', tasks.dbNow() + 5 * SECOND);
    let answer: () => void = () => undefined;
    tasks.hold = (a) => (answer = a);
    dispatcher.start();
    await settle();

    let stopped = false;
    const stopping = dispatcher.stop();
    expect(dispatcher.stop()).toBe(stopping);
    void stopping.then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false); // the claim is still in flight
    answer();
    await stopping;
    expect(assigned()).toEqual(['t1']);
    expect(dispatcher.state).toBe('stopped');
    expect(clock.pending()).toEqual([]);

    // Nothing wakes it any more.
    const claims = tasks.claims.length;
    dispatcher.wake();
    dispatcher.creditsAvailable();
    dispatcher.dueSoon(tasks.dbNow() + SECOND);
    await clock.advanceAsync(10 * POLL);
    expect(tasks.claims).toHaveLength(claims);
    expect(assigned()).toEqual(['t1']);
  });
});
