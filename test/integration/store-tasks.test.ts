import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { prepareTask } from '../../src/api/services/submit.js';
import { claimDue } from '../../src/store/claim.js';
import { completeBatch } from '../../src/store/complete.js';
import { listAttempts } from '../../src/store/attempts.js';
import { acquireLeadership, type LeaderTerm } from '../../src/store/leader.js';
import { extendLeases, reapExpired, releaseClaims } from '../../src/store/leases.js';
import { insertTask, insertTasks } from '../../src/store/insert.js';
import { cancelTask } from '../../src/store/actions.js';
import { getTask } from '../../src/store/read.js';
import type { AttemptResult } from '../../src/store/types.js';
import type { SubmitTaskInput } from '../../src/api/schemas/tasks.js';
import { createDb } from '../../src/store/db.js';
import { useSchema } from '../helpers/db.js';

const db = await useSchema();
const term = (await acquireLeadership(db, 'maintenance', 'test', 3_600_000)) as LeaderTerm;
let queueSeq = 0;
const newQueue = (): string => `q${++queueSeq}`;

async function submit(input: SubmitTaskInput) {
  return (await insertTask(db, prepareTask(input))).task;
}

function ok(
  id: string,
  attempt: number,
  value: unknown = { done: true },
  workerId = 'w',
): AttemptResult {
  return {
    id,
    attempt,
    workerId,
    ok: true,
    resultJson: JSON.stringify(value),
    error: null,
    retryable: false,
    executor: 'handler',
    failure: null,
    startedAtMs: Date.now(),
  };
}

function failed(id: string, attempt: number, error = 'boom', retryable = true): AttemptResult {
  return {
    id,
    attempt,
    workerId: 'w',
    ok: false,
    resultJson: null,
    error,
    retryable,
    executor: 'handler',
    failure: 'error',
    startedAtMs: Date.now(),
  };
}

describe('claimDue', () => {
  it('claims by priority, then due time, and never a task before its run_at', async () => {
    const queue = newQueue();
    const past = (s: number) => new Date(Date.now() - s * 1000).toISOString();
    const low = await submit({ command: 'echo low', queue, run_at: past(30) });
    const highLate = await submit({
      command: 'echo high-late',
      queue,
      priority: 5,
      run_at: past(10),
    });
    const highEarly = await submit({
      command: 'echo high-early',
      queue,
      priority: 5,
      run_at: past(20),
    });
    await submit({
      command: 'echo future',
      queue,
      priority: 100,
      run_at: new Date(Date.now() + 60_000).toISOString(),
    });

    const claimed = await claimDue(db, {
      queue,
      handlers: ['echo'],
      slots: ['w1', 'w1', 'w1', 'w1', 'w1'],
      leaseMs: 5000,
    });
    expect(claimed.map((c) => c.id)).toEqual([highEarly.id, highLate.id, low.id]);
    expect(claimed.every((c) => c.attempt === 1 && c.workerId === 'w1')).toBe(true);
  });

  it('returns its tasks in claim order, whatever join the planner picks', async () => {
    // A pool of the same schema whose planner may not use nested loops: the claim's UPDATE
    // then meets its rows through a hash or merge join, in an order of the plan's own.
    const url = new URL(db.url);
    url.searchParams.set('options', '-c enable_nestloop=off');
    const hashed = createDb({ url: url.toString(), schema: db.schema, max: 1 });
    try {
      const setting = await hashed.pool.query<{ enable_nestloop: string }>('SHOW enable_nestloop');
      expect(setting.rows[0]?.enable_nestloop).toBe('off');
      for (const limited of [false, true]) {
        const queue = newQueue();
        const past = (s: number) => new Date(Date.now() - s * 1000).toISOString();
        const ids: string[] = [];
        for (let i = 0; i < 6; i++) {
          // Submitted lowest priority first, so claim order is the reverse of insert order.
          ids.unshift(
            (await submit({ command: `echo ${i}`, queue, priority: i, run_at: past(60) })).id,
          );
        }
        const claimed = await claimDue(hashed, {
          queue,
          handlers: null,
          slots: Array(6).fill('w'),
          leaseMs: 5000,
          limited,
        });
        expect(claimed.map((c) => c.id)).toEqual(ids);
      }
    } finally {
      await hashed.pool.end();
    }
  });

  it('hands each task to one claimer only, however many claim at once', async () => {
    const queue = newQueue();
    for (let i = 0; i < 200; i++) await submit({ command: `echo ${i}`, queue });
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        claimDue(db, { queue, handlers: null, slots: Array(40).fill(`w${i}`), leaseMs: 5000 }),
      ),
    );
    const ids = claims.flat().map((c) => c.id);
    expect(ids).toHaveLength(200);
    expect(new Set(ids).size).toBe(200);
  });

  it('spreads one claim over the slots given, and only takes handlers the workers serve', async () => {
    const queue = newQueue();
    for (let i = 0; i < 4; i++) await submit({ command: `echo ${i}`, queue });
    const other = await submit({ command: 'resize a.png', queue });
    const claimed = await claimDue(db, {
      queue,
      handlers: ['echo'],
      slots: ['a', 'b', 'a', 'b', 'a', 'b'],
      leaseMs: 5000,
    });
    expect(claimed.map((c) => c.workerId).sort()).toEqual(['a', 'a', 'b', 'b']);
    expect((await getTask(db, other.id))?.status).toBe('pending');
  });
});

describe('completeBatch (fencing)', () => {
  it('accepts the current attempt and rejects a stale one without changing the task', async () => {
    const queue = newQueue();
    const t = await submit({ command: 'echo x', queue, backoff_ms: 0 });
    const [first] = await claimDue(db, { queue, handlers: null, slots: ['zombie'], leaseMs: 1 });
    expect(first?.attempt).toBe(1);
    await new Promise((r) => setTimeout(r, 20));
    expect((await reapExpired(db, term, 100)).map((r) => r.id)).toContain(t.id);
    const [second] = await claimDue(db, {
      queue,
      handlers: null,
      slots: ['fresh'],
      leaseMs: 60_000,
    });
    expect(second?.attempt).toBe(2);

    // The zombie reports attempt 1 in the same batch as attempt 2's result.
    const done = await completeBatch(db, [
      ok(t.id, 1, { from: 'zombie' }, 'zombie'),
      ok(t.id, 2, { from: 'fresh' }, 'fresh'),
    ]);
    expect(done).toEqual([
      {
        id: t.id,
        attempt: 2,
        workerId: 'fresh',
        status: 'succeeded',
        scheduledAtMs: expect.any(Number),
        queue,
        handler: 'echo',
        startedAtMs: expect.any(Number),
        failure: null,
        traceContext: null,
      },
    ]);
    const after = await getTask(db, t.id);
    expect(after).toMatchObject({
      status: 'succeeded',
      attempt: 2,
      workerId: 'fresh',
      result: { from: 'fresh' },
    });

    // And once more after the fact.
    expect(await completeBatch(db, [ok(t.id, 1, { from: 'zombie' }, 'zombie')])).toEqual([]);
    expect((await getTask(db, t.id))?.result).toEqual({ from: 'fresh' });
    const attempts = await listAttempts(db, t.id);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.workerId])).toEqual([
      [1, 'lease_expired', 'zombie'],
      [2, 'succeeded', 'fresh'],
    ]);
  });

  it('retries a failure after a backoff, and ends dead after max_attempts with every error kept', async () => {
    const queue = newQueue();
    const t = await submit({
      command: 'fail',
      queue,
      max_attempts: 3,
      backoff_ms: 200,
      backoff_max_ms: 1000,
    });
    for (let attempt = 1; attempt <= 3; attempt++) {
      let claimed = await claimDue(db, { queue, handlers: null, slots: ['w'], leaseMs: 5000 });
      if (attempt > 1) {
        // Not yet: the backoff holds it back.
        expect(claimed).toEqual([]);
        const pending = await getTask(db, t.id);
        expect(pending?.status).toBe('pending');
        expect(pending!.scheduledAt.getTime()).toBeGreaterThan(Date.now() - 50);
        await new Promise((r) => setTimeout(r, pending!.scheduledAt.getTime() - Date.now() + 20));
        claimed = await claimDue(db, { queue, handlers: null, slots: ['w'], leaseMs: 5000 });
      }
      expect(claimed.map((c) => c.attempt)).toEqual([attempt]);
      const [done] = await completeBatch(db, [failed(t.id, attempt, `boom ${attempt}`)]);
      expect(done?.status).toBe(attempt < 3 ? 'pending' : 'dead');
    }
    const dead = await getTask(db, t.id);
    expect(dead).toMatchObject({ status: 'dead', attempt: 3, error: 'boom 3' });
    expect(dead?.failedAt).not.toBeNull();
    expect((await listAttempts(db, t.id)).map((a) => [a.outcome, a.error])).toEqual([
      ['failed', 'boom 1'],
      ['failed', 'boom 2'],
      ['failed', 'boom 3'],
    ]);
  });

  it("cannot be steered by a result's text: each result changes its own row only", async () => {
    const queue = newQueue();
    const a = await submit({ command: 'echo a', queue });
    const b = await submit({ command: 'echo b', queue, max_attempts: 1 });
    const claimed = await claimDue(db, {
      queue,
      handlers: null,
      slots: ['w', 'w'],
      leaseMs: 60_000,
    });
    expect(claimed.map((c) => c.id).sort()).toEqual([a.id, b.id].sort());
    // Text that would close this result's entry and open one for task b, were the batch's
    // parameter written by hand: as a result (a JSON string) and as an error.
    const forged = `"},{"id":"${b.id}","attempt":1,"worker_id":"w","ok":true,"result":"{\\"forged\\":1}","executor":"x"}]`;
    const done = await completeBatch(db, [ok(a.id, 1, forged), failed(a.id, 9, forged)]);
    expect(done.map((d) => [d.id, d.attempt])).toEqual([[a.id, 1]]);
    expect((await getTask(db, a.id))?.result).toBe(forged);
    expect(await getTask(db, b.id)).toMatchObject({ status: 'running', result: null, error: null });

    // b's own failure, with the same text as its error, is stored as that text.
    const [bDone] = await completeBatch(db, [{ ...failed(b.id, 1, forged), retryable: false }]);
    expect(bDone?.status).toBe('dead');
    expect(await getTask(db, b.id)).toMatchObject({ status: 'dead', error: forged, result: null });
  });

  it('does not retry an error the handler marked final', async () => {
    const queue = newQueue();
    // Due a second ago: what is tested is the final error, not the claim's reading of now()
    // a millisecond after the insert's.
    const runAt = new Date(Date.now() - 1000).toISOString();
    const t = await submit({ command: 'fail', queue, max_attempts: 5, run_at: runAt });
    const claimed = await claimDue(db, { queue, handlers: null, slots: ['w'], leaseMs: 5000 });
    // Should nothing be claimed, the message says what the row looked like then.
    const row = async () =>
      JSON.stringify(
        (
          await db.pool.query(
            `SELECT status, attempt, worker_id, queue, scheduled_at, now() AS now FROM ${db.s}.tasks
             WHERE id = $1`,
            [t.id],
          )
        ).rows[0],
      );
    expect(
      claimed.map((c) => [c.id, c.attempt, c.workerId]),
      claimed.length === 0 ? `nothing claimed; the task: ${await row()}` : undefined,
    ).toEqual([[t.id, 1, 'w']]);
    const done = await completeBatch(db, [failed(t.id, 1, 'bad input', false)]);
    expect(done.map((d) => [d.id, d.status])).toEqual([[t.id, 'dead']]);
    expect(await getTask(db, t.id)).toMatchObject({
      status: 'dead',
      attempt: 1,
      error: 'bad input',
    });
  });
});

describe('leases', () => {
  it('extends only current attempts, and the reaper returns the rest, fenced', async () => {
    const queue = newQueue();
    const a = await submit({ command: 'echo a', queue });
    const b = await submit({ command: 'echo b', queue, max_attempts: 1 });
    await claimDue(db, { queue, handlers: null, slots: ['w', 'w'], leaseMs: 300 });
    const extended = await extendLeases(
      db,
      [
        { id: a.id, attempt: 1, workerId: 'w' },
        { id: b.id, attempt: 7, workerId: 'w' },
      ],
      60_000,
    );
    expect(extended).toEqual([{ id: a.id, attempt: 1, workerId: 'w' }]);
    await new Promise((r) => setTimeout(r, 400));
    const reaped = await reapExpired(db, term, 100);
    expect(reaped).toEqual([
      {
        id: b.id,
        attempt: 1,
        status: 'dead',
        workerId: 'w',
        queue,
        handler: 'echo',
        scheduledAt: expect.any(Date),
      },
    ]);
    expect((await getTask(db, a.id))?.status).toBe('running');
    const bAfter = await getTask(db, b.id);
    expect(bAfter?.error).toMatch(/lease expired/);
  });

  it('returns a reaped task after its retry backoff, like any failed attempt', async () => {
    const queue = newQueue();
    const t = await submit({ command: 'echo crashed', queue, backoff_ms: 60_000 });
    await claimDue(db, { queue, handlers: null, slots: ['w'], leaseMs: 1 });
    await new Promise((r) => setTimeout(r, 20));
    const before = Date.now();
    const [reaped] = await reapExpired(db, term, 100);
    expect(reaped).toMatchObject({ id: t.id, status: 'pending' });
    // Backoff 60 s, jittered down by at most half.
    expect(reaped?.scheduledAt.getTime()).toBeGreaterThanOrEqual(before + 29_000);
    expect(await claimDue(db, { queue, handlers: null, slots: ['w'], leaseMs: 60_000 })).toEqual(
      [],
    );
  });
});

describe('releaseClaims', () => {
  it('returns an undelivered claim to pending without using up an attempt, fenced', async () => {
    const queue = newQueue();
    const t = await submit({ command: 'echo undelivered', queue, max_attempts: 2 });
    await claimDue(db, { queue, handlers: null, slots: ['gone'], leaseMs: 60_000 });
    expect(await releaseClaims(db, [{ id: t.id, attempt: 7 }])).toBe(0);
    expect(await releaseClaims(db, [{ id: t.id, attempt: 1 }])).toBe(1);
    expect(await getTask(db, t.id)).toMatchObject({
      status: 'pending',
      attempt: 1,
      maxAttempts: 3,
      workerId: null,
    });
    const [again] = await claimDue(db, { queue, handlers: null, slots: ['w'], leaseMs: 60_000 });
    expect(again?.attempt).toBe(2);
  });
});

describe('leadership', () => {
  it('renews within a term, bumps the epoch on takeover, and fences the old term out of reaping', async () => {
    const role = 'election-test';
    const a1 = await acquireLeadership(db, role, 'a', 300);
    expect(a1?.epoch).toBe(1);
    expect(await acquireLeadership(db, role, 'b', 300)).toBeNull();
    expect((await acquireLeadership(db, role, 'a', 300))?.epoch).toBe(1);
    await new Promise((r) => setTimeout(r, 350));
    const b = await acquireLeadership(db, role, 'b', 60_000);
    expect(b?.epoch).toBe(2);

    // 'a' was paused past its TTL and still holds its old term: its reap writes nothing.
    const queue = newQueue();
    const t = await submit({ command: 'echo reap-me', queue });
    await claimDue(db, { queue, handlers: null, slots: ['w'], leaseMs: 1 });
    await new Promise((r) => setTimeout(r, 20));
    expect(await reapExpired(db, { ...(a1 as LeaderTerm) }, 100)).toEqual([]);
    expect((await getTask(db, t.id))?.status).toBe('running');
    const reaped = await reapExpired(db, { ...(b as LeaderTerm), role }, 100);
    expect(reaped.map((r) => r.id)).toContain(t.id);
    const attempts = await listAttempts(db, t.id);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]?.outcome).toBe('lease_expired');
  });
});

describe('insertTask', () => {
  it('creates one task per idempotency key, even for concurrent submits', async () => {
    const key = `order-${uuidv7()}`;
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        insertTask(db, prepareTask({ command: 'echo once', idempotency_key: key })),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.task.id)).size).toBe(1);
  });

  it('inserts a batch in order, skipping keys already taken (in the table or the batch)', async () => {
    const queue = newQueue();
    const taken = await submit({ command: 'echo first', queue, idempotency_key: `k-${queue}-1` });
    const batch = [
      { command: 'echo a', queue, idempotency_key: `k-${queue}-1` },
      { command: 'echo b', queue },
      { command: 'echo c', queue, idempotency_key: `k-${queue}-2` },
      { command: 'echo d', queue, idempotency_key: `k-${queue}-2` },
    ].map((t) => prepareTask(t));
    const out = await insertTasks(db, batch);
    expect(out.map((r) => r.created)).toEqual([false, true, true, false]);
    expect(out[0]?.id).toBe(taken.id);
    expect(out[3]?.id).toBe(out[2]?.id);
    const claimed = await claimDue(db, {
      queue,
      handlers: null,
      slots: Array(10).fill('w'),
      leaseMs: 5000,
    });
    expect(claimed.map((c) => c.command).sort()).toEqual(['echo b', 'echo c', 'echo first']);
  });

  it('stores run_at given with any offset as the UTC instant', async () => {
    const t = await submit({
      command: 'echo tz',
      run_at: '2030-12-24T22:34:00+05:30',
      queue: newQueue(),
    });
    expect(t.scheduledAt.toISOString()).toBe('2030-12-24T17:04:00.000Z');
  });
});

describe('cancelTask', () => {
  it('cancels pending and running tasks, and a running attempt cannot complete afterwards', async () => {
    const queue = newQueue();
    const pending = await submit({
      command: 'echo p',
      queue,
      run_at: new Date(Date.now() + 60_000).toISOString(),
    });
    const running = await submit({ command: 'echo r', queue });
    await claimDue(db, { queue, handlers: null, slots: ['w'], leaseMs: 5000 });
    expect((await cancelTask(db, pending.id))?.task.status).toBe('cancelled');
    const c = await cancelTask(db, running.id);
    expect(c).toMatchObject({ previous: 'running', task: { status: 'cancelled' } });
    expect(await completeBatch(db, [ok(running.id, 1)])).toEqual([]);
    expect((await getTask(db, running.id))?.status).toBe('cancelled');
    expect((await listAttempts(db, running.id)).map((a) => a.outcome)).toEqual(['cancelled']);
    // A finished task stays as it is.
    expect((await cancelTask(db, running.id))?.previous).toBe('cancelled');
  });
});
