import { beforeAll, describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import type { SubmitTaskInput } from '../../src/api/schemas/tasks.js';
import { loadHandlers } from '../../src/cli/worker.js';
import type { Coordinator } from '../../src/coordinator/index.js';
import { listWorkers } from '../../src/store/workers.js';
import { NonRetryableError, Worker, type BatchContext } from '../../src/worker/index.js';
import { startWorker } from '../helpers/cluster.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';
import { until } from '../helpers/wait.js';

const db = await useSchema();
const api = new TasksApi(db);
let coordinator: Coordinator;
let seq = 0;
const queue = (): string => `bh${++seq}`;

beforeAll(async () => {
  // A fallback poll far longer than any wait below: tasks must be woken by NOTIFY, credits
  // and retry timers, not rescued by the poll.
  coordinator = await inProcessCoordinator(db, { scope: 'file', pollMs: 120_000 });
});

interface Row {
  id: string;
  status: string;
  attempt: number;
  result: unknown;
  error: string | null;
  payload: unknown;
  outcomes: string[];
}

/** Submits one task per payload in one statement (so one claim hands them out together). */
async function submitAll(
  q: string,
  command: string,
  payloads: unknown[],
  extra: Partial<SubmitTaskInput> = {},
): Promise<string[]> {
  const out = await api.submitBatch(
    payloads.map((payload) => ({ command, payload, queue: q, ...extra })),
  );
  return out.map((r) => r.id);
}

/** The tasks, in the order of `ids`, once every one has ended. */
async function ended(ids: string[], timeoutMs = 20_000): Promise<Row[]> {
  let rows: Row[] = [];
  await until(
    async () => {
      const res = await db.pool.query<Row>(
        `SELECT t.id, t.status, t.attempt, t.result, t.error, t.payload,
                coalesce(array_agg(a.outcome ORDER BY a.attempt)
                           FILTER (WHERE a.outcome IS NOT NULL), '{}') AS outcomes
           FROM ${db.s}.tasks t LEFT JOIN ${db.s}.task_attempts a ON a.task_id = t.id
          WHERE t.id = ANY($1::uuid[]) GROUP BY t.id`,
        [ids],
      );
      rows = res.rows;
      return rows.every((r) => ['succeeded', 'dead', 'cancelled'].includes(r.status));
    },
    timeoutMs,
    'every task to end',
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id)!);
}

/** Results the coordinator refused so far (a zombie's or a cancelled task's). */
async function refusedResults(): Promise<number> {
  const metric = await coordinator.metrics!.reportsRefused.get();
  return metric.values.find((v) => v.labels.kind === 'result')?.value ?? 0;
}

/** A promise with its resolver, for handlers a test releases. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describe('batch handlers', () => {
  it('hands 250 tasks over in a few batches of at most 100, each task with its own result', async () => {
    const q = queue();
    const sizes: number[] = [];
    let mostHeld = 0;
    await inProcessWorker<{ double: { n: number } }>(
      coordinator,
      { queues: [q], concurrency: 100 },
      (w) =>
        w.handleBatch(
          'double',
          (tasks) => {
            sizes.push(tasks.length);
            mostHeld = Math.max(mostHeld, w.activeTasks);
            return tasks.map((t) => {
              // @ts-expect-error the worker's payload map types each task's payload
              void t.payload.missing;
              return { doubled: t.payload.n * 2, taskId: t.ctx.taskId, attempt: t.ctx.attempt };
            });
          },
          { size: 100, waitMs: 50 },
        ),
    );
    const payloads = Array.from({ length: 250 }, (_, n) => ({ n }));
    const ids = await submitAll(q, 'double', payloads);
    const rows = await ended(ids);
    for (const [i, row] of rows.entries()) {
      expect(row).toMatchObject({
        status: 'succeeded',
        attempt: 1,
        result: { doubled: 2 * i, taskId: row.id, attempt: 1 },
      });
    }
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(250);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
    expect(sizes.length).toBeLessThanOrEqual(10);
    // A batch of N tasks holds N slots: never more than the worker's concurrency at once.
    expect(mostHeld).toBeLessThanOrEqual(100);
  });

  it('fails only the tasks whose places hold errors: those retry or die on their own', async () => {
    const q = queue();
    const sizes: number[] = [];
    await inProcessWorker<{ mixed: { kind: 'ok' | 'flaky' | 'bad' } }>(
      coordinator,
      { queues: [q] },
      (w) =>
        w.handleBatch(
          'mixed',
          (tasks) => {
            sizes.push(tasks.length);
            return tasks.map(({ payload, ctx }) => {
              if (payload.kind === 'bad') return new NonRetryableError(`bad item ${ctx.taskId}`);
              if (payload.kind === 'flaky' && ctx.attempt === 1) return new Error('flaky once');
              return { kind: payload.kind, attempt: ctx.attempt };
            });
          },
          { waitMs: 200 },
        ),
    );
    const kinds = ['ok', 'flaky', 'bad', 'ok', 'flaky', 'ok'] as const;
    const ids = await submitAll(
      q,
      'mixed',
      kinds.map((kind) => ({ kind })),
      { max_attempts: 3, backoff_ms: 0 },
    );
    const rows = await ended(ids);
    expect(sizes[0]).toBe(6); // one batch held all three kinds
    for (const [i, row] of rows.entries()) {
      const kind = kinds[i];
      if (kind === 'ok') {
        expect(row).toMatchObject({
          status: 'succeeded',
          attempt: 1,
          result: { kind, attempt: 1 },
        });
      } else if (kind === 'flaky') {
        expect(row).toMatchObject({
          status: 'succeeded',
          attempt: 2,
          result: { kind, attempt: 2 },
        });
        expect(row.outcomes).toEqual(['failed', 'succeeded']);
      } else {
        expect(row).toMatchObject({ status: 'dead', attempt: 1, error: `bad item ${row.id}` });
      }
    }
  });

  it('fails every task when the handler throws, or answers with the wrong number of results', async () => {
    const q = queue();
    await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w
        .handleBatch(
          'explode',
          () => {
            throw new Error('upstream is down');
          },
          { waitMs: 200 },
        )
        .handleBatch('short', () => [{ only: 'one' }], { waitMs: 200 }),
    );
    const exploded = await submitAll(q, 'explode', [1, 2, 3], { max_attempts: 1 });
    // A wrong-length answer is a bug in the handler, so it is not retried.
    const short = await submitAll(q, 'short', [1, 2, 3], { max_attempts: 3 });
    for (const row of await ended(exploded))
      expect(row).toMatchObject({ status: 'dead', attempt: 1, error: 'upstream is down' });
    for (const row of await ended(short)) {
      expect(row).toMatchObject({
        status: 'dead',
        attempt: 1,
        error:
          "batch handler 'short' returned 1 result for 3 tasks: it must return one result per task, in order",
      });
    }
  });

  /**
   * Submits `count` tasks at once to a worker whose batch handler records when it was called
   * and with how many tasks; resolves once they have all succeeded.
   */
  async function timeBatches(
    count: number,
    options: { waitMs: number; concurrency: number },
  ): Promise<Array<{ afterMs: number; size: number }>> {
    const q = queue();
    const calls: Array<{ at: number; size: number }> = [];
    await inProcessWorker(coordinator, { queues: [q], concurrency: options.concurrency }, (w) =>
      w.handleBatch(
        'timed',
        (tasks) => {
          calls.push({ at: Date.now(), size: tasks.length });
          return tasks.map(() => 'ok');
        },
        { size: 100, waitMs: options.waitMs },
      ),
    );
    const submitted = Date.now();
    const ids = await submitAll(
      q,
      'timed',
      Array.from({ length: count }, (_, i) => i),
    );
    for (const row of await ended(ids)) expect(row.status).toBe('succeeded');
    return calls.map((c) => ({ afterMs: c.at - submitted, size: c.size }));
  }

  it('runs a lone task after waitMs, not after size tasks', async () => {
    const [call, ...more] = await timeBatches(1, { waitMs: 300, concurrency: 10 });
    expect(more).toEqual([]);
    expect(call!.size).toBe(1);
    // It waited for company (the timer fires no sooner than waitMs after the task arrived),
    // then ran alone instead of waiting for 99 more.
    expect(call!.afterMs).toBeGreaterThanOrEqual(295);
    expect(call!.afterMs).toBeLessThan(2_000);
  });

  it('does not wait when every slot is taken: no more tasks could come', async () => {
    const calls = await timeBatches(2, { waitMs: 30_000, concurrency: 2 });
    expect(calls.map((c) => c.size)).toEqual([2]);
    expect(calls[0]!.afterMs).toBeLessThan(5_000);
  });

  it('a task past its timeout_ms is reported as timed out while the rest of its batch goes on', async () => {
    const q = queue();
    let deadline: Date | undefined;
    let batchAborted = true;
    let seenAbort = '';
    await inProcessWorker<{ t: { slow: boolean } }>(coordinator, { queues: [q] }, (w) =>
      w.handleBatch(
        't',
        async (tasks, ctx) => {
          deadline = ctx.deadline;
          const slow = tasks.find((t) => t.payload.slow)!;
          await new Promise<void>((resolve) =>
            slow.ctx.signal.addEventListener('abort', () => resolve(), { once: true }),
          );
          seenAbort = (slow.ctx.signal.reason as Error).message;
          await new Promise((r) => setTimeout(r, 200));
          batchAborted = ctx.signal.aborted;
          return tasks.map((t) => ({ slow: t.payload.slow }));
        },
        { waitMs: 200 },
      ),
    );
    const started = Date.now();
    const [slow, quick] = await api.submitBatch([
      { command: 't', queue: q, payload: { slow: true }, timeout_ms: 300, max_attempts: 1 },
      { command: 't', queue: q, payload: { slow: false } },
    ]);
    const [s, k] = await ended([slow!.id, quick!.id]);
    expect(s).toMatchObject({ status: 'dead', error: 'timed out after 300 ms', result: null });
    expect(s!.outcomes).toEqual(['timeout']);
    expect(k).toMatchObject({ status: 'succeeded', attempt: 1, result: { slow: false } });
    expect(seenAbort).toBe('timed out after 300 ms');
    // One task's timeout does not abort the batch; ctx.deadline is that task's deadline.
    expect(batchAborted).toBe(false);
    expect(deadline!.getTime()).toBeGreaterThanOrEqual(started + 300);
    expect(deadline!.getTime()).toBeLessThan(started + 3_000);
  });

  it("aborts the batch's signal once every task of it has aborted", async () => {
    const q = queue();
    let reason = '';
    await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w.handleBatch(
        'stuck',
        (tasks, ctx: BatchContext) =>
          new Promise((resolve) =>
            ctx.signal.addEventListener('abort', () => {
              reason = (ctx.signal.reason as Error).message;
              resolve(tasks.map(() => 'too late'));
            }),
          ),
        { waitMs: 100 },
      ),
    );
    const ids = await submitAll(q, 'stuck', [1, 2], { timeout_ms: 200, max_attempts: 1 });
    for (const row of await ended(ids))
      expect(row).toMatchObject({ status: 'dead', error: 'timed out after 200 ms', result: null });
    await until(() => reason !== '', 5_000, 'the batch signal');
    expect(reason).toBe('timed out after 200 ms');
  });

  it('keeps every task of a long batch leased, with its own progress', async () => {
    const q = queue();
    let calls = 0;
    const halfway = gate();
    const release = gate();
    await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w.handleBatch(
        'long',
        async (tasks) => {
          calls++;
          tasks.forEach((t, i) => t.ctx.progress(10 * (i + 1), `item ${i}`));
          halfway.open();
          await release.wait;
          return tasks.map((t) => t.ctx.attempt);
        },
        { waitMs: 200 },
      ),
    );
    const ids = await submitAll(q, 'long', [1, 2, 3]);
    await halfway.wait;
    await until(
      async () => {
        const details = await Promise.all(ids.map((id) => api.get(id)));
        return details.every((d) => d.task.progressPercent !== null);
      },
      5_000,
      'progress',
    );
    const progress = await Promise.all(ids.map(async (id) => (await api.get(id)).task));
    expect(progress.map((t) => t.progressPercent).sort()).toEqual([10, 20, 30]);
    // Longer than the lease (2 s): only heartbeats listing every task keep them.
    await new Promise((r) => setTimeout(r, 3_000));
    release.open();
    for (const row of await ended(ids))
      expect(row).toMatchObject({ status: 'succeeded', attempt: 1, result: 1 });
    expect(calls).toBe(1);
  });

  it('a task of a batch can spawn children and wait for them, as with handle', async () => {
    const q = queue();
    const sizes: number[] = [];
    await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w.handleBatch(
        'fan',
        (tasks) => {
          sizes.push(tasks.length);
          return tasks.map(({ ctx }) => {
            if (ctx.children) return { ended: ctx.children.map((c) => c.status) };
            return ctx.waitFor(ctx.spawn([1, 2].map((i) => ({ command: `echo ${i}`, queue: q }))));
          });
        },
        { waitMs: 200 },
      ),
    );
    const ids = await submitAll(q, 'fan', [1, 2]);
    for (const row of await ended(ids)) {
      expect(row).toMatchObject({
        status: 'succeeded',
        result: { ended: ['succeeded', 'succeeded'] },
      });
      expect(row.outcomes).toEqual(['waiting', 'succeeded']);
    }
    expect(sizes[0]).toBe(2);
  });

  it('a graceful stop mid-batch finishes the batch and delivers every result', async () => {
    const q = queue();
    const running = gate();
    const w = await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w.handleBatch(
        'work',
        async (tasks) => {
          running.open();
          await new Promise((r) => setTimeout(r, 500));
          return tasks.map((t) => `done ${t.ctx.taskId}`);
        },
        { waitMs: 200 },
      ),
    );
    const ids = await submitAll(q, 'work', [1, 2, 3, 4, 5]);
    await running.wait;
    await w.stop();
    // Delivered before stop() resolved: read at once, no waiting.
    const res = await db.pool.query<{ id: string; status: string; result: unknown }>(
      `SELECT id, status, result FROM ${db.s}.tasks WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    expect(res.rows).toHaveLength(5);
    for (const r of res.rows)
      expect(r).toMatchObject({ status: 'succeeded', result: `done ${r.id}` });
  });

  it('a stop runs a batch still gathering at once, rather than after waitMs', async () => {
    const q = queue();
    const w = await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w.handleBatch('gathering', (tasks) => tasks.map(() => 'ran'), { waitMs: 30_000 }),
    );
    const ids = await submitAll(q, 'gathering', [1, 2, 3]);
    await until(() => w.activeTasks === 3, 5_000, 'the tasks to arrive');
    const stopping = Date.now();
    await w.stop();
    expect(Date.now() - stopping).toBeLessThan(5_000);
    for (const row of await ended(ids, 1_000))
      expect(row).toMatchObject({ status: 'succeeded', attempt: 1, result: 'ran' });
  });

  it('cancelling a task mid-batch aborts its signal, and refuses its late result', async () => {
    const q = queue();
    const running = gate();
    const reasons = new Map<string, string>();
    let batchAborted = true;
    await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w.handleBatch(
        'cancellable',
        async (tasks, ctx) => {
          for (const t of tasks) {
            t.ctx.signal.addEventListener('abort', () =>
              reasons.set(t.ctx.taskId, (t.ctx.signal.reason as Error).message),
            );
          }
          running.open();
          await until(() => reasons.size > 0, 10_000, 'the cancel');
          batchAborted = ctx.signal.aborted;
          return tasks.map(() => 'finished anyway');
        },
        { waitMs: 200 },
      ),
    );
    const refusedBefore = await refusedResults();
    const ids = await submitAll(q, 'cancellable', [1, 2, 3]);
    await running.wait;
    await api.cancel(ids[1]!);
    const rows = await ended(ids);
    expect([...reasons]).toEqual([[ids[1], 'cancelled']]);
    expect(batchAborted).toBe(false);
    expect(rows.map((r) => [r.status, r.result])).toEqual([
      ['succeeded', 'finished anyway'],
      ['cancelled', null],
      ['succeeded', 'finished anyway'],
    ]);
    await until(async () => (await refusedResults()) > refusedBefore, 5_000, 'the refusal');
  });

  it('delivers a batch’s results through the coordinator it reconnects to', async () => {
    const q = queue();
    const c1 = await inProcessCoordinator(db);
    const c2 = await inProcessCoordinator(db);
    const running = gate();
    const release = gate();
    const w = await inProcessWorker(
      c1,
      { queues: [q], coordinators: [`127.0.0.1:${c1.grpcPort}`, `127.0.0.1:${c2.grpcPort}`] },
      (w) =>
        w.handleBatch(
          'hop',
          async (tasks) => {
            running.open();
            await release.wait;
            return tasks.map(() => 'delivered');
          },
          { waitMs: 200 },
        ),
    );
    const ids = await submitAll(q, 'hop', [1, 2, 3]);
    await running.wait;
    const holder = async () =>
      (await listWorkers(db, 60_000, 60_000)).find((x) => x.id === w.id)?.coordinatorId;
    const first = await holder();
    const [gone, other] = first === c1.id ? [c1, c2] : [c2, c1];
    await gone.stop();
    await until(async () => (await holder()) === other.id, 10_000, 'the worker to reconnect');
    release.open();
    for (const row of await ended(ids))
      expect(row).toMatchObject({ status: 'succeeded', attempt: 1, result: 'delivered' });
  });
});

describe('taskq worker --handlers', () => {
  it('loads batch handlers from a module that exports `batch`', async () => {
    const q = queue();
    await startWorker(db.schema, coordinator.grpcPort, {
      queue: q,
      concurrency: 20,
      extra: ['--handlers', new URL('../fixtures/batch-handlers.mjs', import.meta.url).pathname],
    });
    const ids = await submitAll(
      q,
      'double',
      Array.from({ length: 20 }, (_, n) => ({ n })),
    );
    const rows = await ended(ids);
    for (const [n, row] of rows.entries())
      expect(row).toMatchObject({ status: 'succeeded', result: { n: 2 * n } });
    const sizes = rows.map((r) => (r.result as { batchSize: number }).batchSize);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
  });

  it('names the file and the handler when a batch entry does not fit', async () => {
    const bad = new URL('../fixtures/batch-handlers-bad.mjs', import.meta.url).pathname;
    await expect(loadHandlers(new Worker(), bad)).rejects.toThrow(
      /batch-handlers-bad\.mjs: batch handler "broken" must be \{ handler/,
    );
  });
});
