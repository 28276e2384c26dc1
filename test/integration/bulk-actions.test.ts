import { beforeAll, describe, expect, it } from 'vitest';
import { ApiError, TaskQueueClient } from '../../src/client/index.js';
import type { Coordinator } from '../../src/coordinator/index.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';
import { readSse } from '../helpers/sse.js';
import { until } from '../helpers/wait.js';

/**
 * POST /v1/tasks/bulk/retry and /v1/tasks/bulk/cancel against a real coordinator and worker:
 * what each task becomes, what the answer says was changed and skipped, that a cancelled
 * running handler is aborted, and that watchers hear of every change.
 */
const db = await useSchema();
let coordinator: Coordinator;
let client: TaskQueueClient;
let base = '';
/** Handlers that abort, with the reason their signal gave. */
const aborted = new Map<string, string>();

beforeAll(async () => {
  coordinator = await inProcessCoordinator(db, { scope: 'file' });
  base = `http://127.0.0.1:${coordinator.httpPort}`;
  client = new TaskQueueClient({ baseUrl: base, retries: 0 });
  await inProcessWorker(
    coordinator,
    { queues: ['bulk-run'], concurrency: 8 },
    (w) => {
      // Fails its first attempt, succeeds after a retry.
      w.handle('flaky', (_p, ctx) => {
        if (ctx.attempt === 1) throw new Error('first attempt fails');
        return { attempt: ctx.attempt };
      });
      w.handle(
        'wait',
        (_p, ctx) =>
          new Promise((resolve) => {
            ctx.signal.addEventListener('abort', () => {
              aborted.set(ctx.taskId, String((ctx.signal.reason as Error).message));
              resolve({ finished: 'after abort' });
            });
          }),
      );
      w.handle('quick', () => ({ ok: true }));
    },
    'file',
  );
}, 60_000);

async function post(path: string, body: unknown) {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const status = async (id: string) => (await client.get(id)).status;

/** Submits `n` tasks of `command` to `queue` with one attempt, and waits until they are dead. */
async function deadTasks(queue: string, n: number): Promise<string[]> {
  const { items } = await client.submitBatch(
    Array.from({ length: n }, () => ({ command: 'flaky', queue, max_attempts: 1 })),
  );
  const ids = items.map((i) => i.id);
  await until(
    async () => (await Promise.all(ids.map(status))).every((s) => s === 'dead'),
    20_000,
    'dead tasks',
  );
  return ids;
}

describe('bulk retry', () => {
  it('retries dead tasks by id, and skips the others with the reason', async () => {
    const dead = await deadTasks('bulk-run', 2);
    const done = await client.submit({ command: 'quick', queue: 'bulk-run' });
    await until(async () => (await status(done.id)) === 'succeeded');
    const unknown = '0190a000-0000-7000-8000-000000000000';
    const out = await client.bulkRetry({ ids: [...dead, done.id, unknown, dead[0] as string] });
    expect(out.changed).toBe(2);
    expect(out.changed_ids.sort()).toEqual([...dead].sort());
    expect(out.skipped).toEqual([
      {
        id: done.id,
        status: 'succeeded',
        reason: 'is succeeded; only dead or cancelled tasks can be retried',
      },
      { id: unknown, status: null, reason: 'no such task' },
    ]);
    expect(out.remaining).toBeNull();
    // They run again, as attempt 2, and succeed; the coordinators were woken for them.
    for (const id of dead) {
      await until(async () => (await status(id)) === 'succeeded', 20_000, `retried ${id}`);
      const t = await client.get(id);
      expect(t.attempt).toBe(2);
      expect(t.attempts?.map((a) => a.outcome)).toEqual(['failed', 'succeeded']);
    }
  });

  it("retries a queue's dead tasks by filter, a limited number per call, and says how many remain", async () => {
    // A paused queue keeps the retried tasks pending, so the counts can be read as they are.
    await client.pauseQueue('bulk-held');
    const dead = await Promise.all(
      Array.from({ length: 5 }, () =>
        client.submit({ command: 'flaky', queue: 'bulk-held', max_attempts: 1 }),
      ),
    );
    await db.pool.query(
      `UPDATE ${db.s}.tasks SET status = 'dead', failed_at = now() WHERE id = ANY($1::uuid[])`,
      [dead.map((t) => t.id)],
    );
    const other = await client.submit({ command: 'flaky', queue: 'bulk-other', max_attempts: 1 });
    await db.pool.query(`UPDATE ${db.s}.tasks SET status = 'dead' WHERE id = $1`, [other.id]);

    const first = await client.bulkRetry(
      { queue: 'bulk-held', status: 'dead', limit: 3 },
      { max_attempts: 4 },
    );
    expect(first).toMatchObject({ changed: 3, skipped: [], remaining: 2, remaining_capped: false });
    // The oldest first.
    expect(first.changed_ids).toEqual(dead.slice(0, 3).map((t) => t.id));
    const retried = await client.get(dead[0]!.id);
    expect(retried).toMatchObject({ status: 'pending', max_attempts: 4, attempt: 0 });
    const second = await client.bulkRetry({ queue: 'bulk-held', status: 'dead' });
    expect(second).toMatchObject({ changed: 2, remaining: 0 });
    const third = await client.bulkRetry({ queue: 'bulk-held', status: 'dead' });
    expect(third).toMatchObject({ changed: 0, changed_ids: [], remaining: 0 });
    // Another queue's dead task is left alone.
    expect(await status(other.id)).toBe('dead');
    const page = await client.list({ queue: 'bulk-held', status: 'pending' });
    expect(page.total).toBe(5);
  });
});

describe('bulk cancel', () => {
  it('cancels pending and running tasks, aborts the running handlers, and announces every change', async () => {
    const running = await Promise.all(
      [1, 2].map(() => client.submit({ command: 'wait', queue: 'bulk-run' })),
    );
    for (const t of running) await until(async () => (await status(t.id)) === 'running');
    const later = await client.submit({
      command: 'quick',
      queue: 'bulk-run',
      run_at: new Date(Date.now() + 3_600_000),
    });
    const done = await client.submit({ command: 'quick', queue: 'bulk-run' });
    await until(async () => (await status(done.id)) === 'succeeded');
    const ids = [...running.map((t) => t.id), later.id];

    const watched = readSse(
      `${base}/v1/events?queue=bulk-run`,
      (events) =>
        ids.every((id) =>
          events.some(
            (e) => e.event === 'status' && e.data.task_id === id && e.data.status === 'cancelled',
          ),
        ),
      {
        timeoutMs: 15_000,
        onOpen: async () => {
          const out = await client.bulkCancel({ ids: [...ids, done.id] });
          expect(out.changed).toBe(3);
          expect(out.skipped).toEqual([
            {
              id: done.id,
              status: 'succeeded',
              reason: 'is already succeeded and cannot be cancelled',
            },
          ]);
        },
      },
    );
    const { events } = await watched;
    for (const id of ids) {
      expect(events.some((e) => e.data.task_id === id && e.data.status === 'cancelled')).toBe(true);
    }
    // The running handlers got their AbortSignal, as with a single cancel.
    await until(() => running.every((t) => aborted.get(t.id) === 'cancelled'), 10_000, 'aborts');
    for (const t of running) {
      const got = await client.get(t.id);
      expect(got.status).toBe('cancelled');
      expect(got.attempts?.map((a) => [a.outcome, a.error])).toEqual([
        ['cancelled', 'cancelled by request'],
      ]);
    }
    // The handlers' late results were fenced out: still cancelled, no result stored.
    await new Promise((r) => setTimeout(r, 300));
    expect((await client.get(running[0]!.id)).result).toBeNull();
    expect(await status(later.id)).toBe('cancelled');
    expect(await status(done.id)).toBe('succeeded');
  });

  it("cancels a queue's pending tasks by filter", async () => {
    await client.pauseQueue('bulk-purge');
    const tasks = await client.submitBatch(
      Array.from({ length: 4 }, () => ({ command: 'quick', queue: 'bulk-purge' })),
    );
    const out = await client.bulkCancel({ queue: 'bulk-purge', status: 'pending' });
    expect(out).toMatchObject({ changed: 4, remaining: 0 });
    for (const i of tasks.items) expect(await status(i.id)).toBe('cancelled');
  });
});

describe('bulk actions refuse bad input, naming the field', () => {
  const cases: Array<[string, string, unknown, string, RegExp]> = [
    ['retry', 'neither ids nor a filter', {}, 'ids', /ids or a filter/],
    [
      'retry',
      'both ids and a filter',
      { ids: ['0190a000-0000-7000-8000-000000000000'], queue: 'q' },
      'queue',
      /either ids or a filter/,
    ],
    [
      'retry',
      'a malformed id',
      { ids: ['0190a000-0000-7000-8000-000000000000', 'x'] },
      'ids.1',
      /ids.1 must be a task id/,
    ],
    ['retry', 'no ids', { ids: [] }, 'ids', /ids/],
    [
      'retry',
      'too many ids',
      { ids: Array.from({ length: 1001 }, () => '0190a000-0000-7000-8000-000000000000') },
      'ids',
      /ids/,
    ],
    ['retry', 'a filter without status', { queue: 'q' }, 'status', /status is required/],
    ['retry', 'a filter without queue', { status: 'dead' }, 'queue', /queue is required/],
    [
      'retry',
      'a status retry does not apply to',
      { queue: 'q', status: 'pending' },
      'status',
      /dead, cancelled/,
    ],
    [
      'cancel',
      'a status cancel does not apply to',
      { queue: 'q', status: 'dead' },
      'status',
      /pending, running/,
    ],
    ['retry', 'a limit above 1000', { queue: 'q', status: 'dead', limit: 1001 }, 'limit', /limit/],
    [
      'retry',
      'max_attempts 0',
      { ids: ['0190a000-0000-7000-8000-000000000000'], max_attempts: 0 },
      'max_attempts',
      /max_attempts/,
    ],
    [
      'cancel',
      'max_attempts on a cancel',
      { ids: ['0190a000-0000-7000-8000-000000000000'], max_attempts: 2 },
      'max_attempts',
      /unknown field/,
    ],
  ];
  for (const [action, what, body, field, message] of cases) {
    it(`${action}: ${what}`, async () => {
      const res = await post(`/v1/tasks/bulk/${action}`, body);
      expect(res.status).toBe(400);
      expect(res.body.error.field).toBe(field);
      expect(res.body.error.message).toMatch(message);
    });
  }

  it('the SDK surfaces the field', async () => {
    const err = await client.bulkCancel({ ids: ['nope'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).field).toBe('ids.0');
  });
});
