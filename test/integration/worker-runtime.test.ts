import { beforeAll, describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import type { Coordinator } from '../../src/coordinator/index.js';
import { NonRetryableError } from '../../src/worker/index.js';
import { updateQueue } from '../../src/store/queues.js';
import { listWorkers } from '../../src/store/workers.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';

const db = await useSchema();
const api = new TasksApi(db);
let coordinator: Coordinator;
let seq = 0;
const queue = (): string => `wr${++seq}`;

beforeAll(async () => {
  // A fallback poll far longer than any wait below: every test here must be woken by the
  // paths meant to wake it (NOTIFY, credits, retry timers), not rescued by the poll.
  coordinator = await inProcessCoordinator(db, { scope: 'file', pollMs: 120_000 });
});

async function finished(id: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await api.get(id);
    if (['succeeded', 'dead', 'cancelled'].includes(d.task.status)) return d;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${d.task.status}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('worker SDK', () => {
  it('runs a typed handler and stores its result with the attempt history', async () => {
    const q = queue();
    await inProcessWorker<{ add: { a: number; b: number } }>(coordinator, { queues: [q] }, (w) =>
      w.handle('add', (p, ctx) => ({ sum: p.a + p.b, attempt: ctx.attempt, args: ctx.args })),
    );
    const { task } = await api.submit({
      command: 'add extra words',
      payload: { a: 2, b: 3 },
      queue: q,
    });
    const d = await finished(task.id);
    expect(d.task).toMatchObject({
      status: 'succeeded',
      attempt: 1,
      executor: 'handler',
      result: { sum: 5, attempt: 1, args: ['extra', 'words'] },
    });
    expect(d.task.pickedAt!.getTime()).toBeLessThanOrEqual(d.task.startedAt!.getTime());
    expect(d.task.startedAt!.getTime()).toBeLessThanOrEqual(d.task.completedAt!.getTime());
    expect(d.attempts.map((a) => a.outcome)).toEqual(['succeeded']);
  });

  it('fails at once, without retries, on a NonRetryableError', async () => {
    const q = queue();
    await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w.handle('strict', () => {
        throw new NonRetryableError('order 42 does not exist');
      }),
    );
    const { task } = await api.submit({ command: 'strict', queue: q, max_attempts: 5 });
    const d = await finished(task.id);
    expect(d.task).toMatchObject({ status: 'dead', attempt: 1, error: 'order 42 does not exist' });
  });

  it('aborts a handler at timeout_ms, records the timeout, and retries it', async () => {
    const q = queue();
    let abortedSeen = 0;
    await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w.handle(
        'slow',
        (_p, ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => {
              abortedSeen++;
              reject(new Error('stopped'));
            });
          }),
      ),
    );
    const { task } = await api.submit({
      command: 'slow',
      queue: q,
      timeout_ms: 150,
      max_attempts: 2,
      backoff_ms: 0,
    });
    const d = await finished(task.id);
    expect(d.task.status).toBe('dead');
    expect(d.attempts.map((a) => [a.outcome, a.error])).toEqual([
      ['timeout', 'timed out after 150 ms'],
      ['timeout', 'timed out after 150 ms'],
    ]);
    expect(abortedSeen).toBe(2);
  });

  it('cancelling a running task aborts its handler, and the late result is rejected', async () => {
    const q = queue();
    let reason = '';
    await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w.handle(
        'long',
        (_p, ctx) =>
          new Promise((resolve) => {
            ctx.signal.addEventListener('abort', () => {
              reason = String((ctx.signal.reason as Error).message);
              resolve({ finished: 'anyway' }); // a handler that answers after abort
            });
          }),
      ),
    );
    const rejected = async () =>
      (await coordinator.metrics!.reportsRefused.get()).values.find(
        (v) => v.labels.kind === 'result',
      )?.value ?? 0;
    const rejectedBefore = await rejected();
    const { task } = await api.submit({ command: 'long', queue: q });
    await until(async () => (await api.get(task.id)).task.status === 'running');
    const cancelled = await api.cancel(task.id);
    expect(cancelled.task.status).toBe('cancelled');
    // The answer to an action is the whole task, as GET gives it: attempts included.
    expect(cancelled.attempts.map((a) => a.outcome)).toEqual(['cancelled']);
    await until(() => reason !== '');
    expect(reason).toBe('cancelled');
    await until(async () => (await rejected()) > rejectedBefore);
    const d = await api.get(task.id);
    expect(d.task).toMatchObject({ status: 'cancelled', result: null });
  });

  it('finishes the task in hand on a graceful stop', async () => {
    const q = queue();
    const w = await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w.handle('work', async () => {
        await new Promise((r) => setTimeout(r, 400));
        return 'done';
      }),
    );
    const { task } = await api.submit({ command: 'work', queue: q });
    await until(async () => (await api.get(task.id)).task.status === 'running');
    await w.stop();
    const d = await api.get(task.id);
    expect(d.task).toMatchObject({ status: 'succeeded', attempt: 1, result: 'done' });
  });
});

describe('queues and redrive', () => {
  it('a paused queue hands out nothing until resumed', async () => {
    const q = queue();
    await inProcessWorker(coordinator, { queues: [q] });
    await updateQueue(db, q, { paused: true });
    const { task } = await api.submit({ command: 'echo held', queue: q });
    await new Promise((r) => setTimeout(r, 400));
    expect((await api.get(task.id)).task.status).toBe('pending');
    await updateQueue(db, q, { paused: false });
    expect((await finished(task.id)).task.status).toBe('succeeded');
  });

  it('a dead task, retried, runs again and can succeed', async () => {
    const q = queue();
    let calls = 0;
    await inProcessWorker(coordinator, { queues: [q] }, (w) =>
      w.handle('flaky', () => {
        calls++;
        if (calls === 1) throw new Error('first time fails');
        return { calls };
      }),
    );
    const { task } = await api.submit({ command: 'flaky', queue: q, max_attempts: 1 });
    expect((await finished(task.id)).task.status).toBe('dead');
    await api.retry(task.id);
    const d = await finished(task.id);
    expect(d.task).toMatchObject({ status: 'succeeded', attempt: 2, result: { calls: 2 } });
    expect(d.attempts.map((a) => a.outcome)).toEqual(['failed', 'succeeded']);
  });

  it('lists live workers with what they run', async () => {
    const q = queue();
    const w = await inProcessWorker(coordinator, { queues: [q], name: 'lister', concurrency: 3 });
    const workers = await listWorkers(db, 5000, 60_000);
    const me = workers.find((x) => x.id === w.id);
    expect(me).toMatchObject({
      name: 'lister',
      state: 'live',
      concurrency: 3,
      queues: [q],
      running: 0,
    });
  });
});

describe('shell executor', () => {
  it('is off by default: a shell command waits, and the API says why', async () => {
    const q = queue();
    await inProcessWorker(coordinator, { queues: [q] });
    const { task } = await api.submit({ command: 'ls -la', queue: q });
    await new Promise((r) => setTimeout(r, 300));
    const d = await api.get(task.id);
    expect(d.task.status).toBe('pending');
    expect(d.waitingFor).toBe(`no connected worker handles 'ls' on queue '${q}'`);
  });

  it('when allowed, stores stdout, stderr and the exit code, and a non-zero exit fails the attempt', async () => {
    const q = queue();
    await inProcessWorker(coordinator, { queues: [q], shell: true, builtins: false });
    const good = await api.submit({ command: 'echo hello', queue: q });
    const bad = await api.submit({
      command: "printf 'out'; echo 'it broke' >&2; exit 3",
      queue: q,
      max_attempts: 1,
    });
    const g = await finished(good.task.id);
    expect(g.task).toMatchObject({
      status: 'succeeded',
      executor: 'shell',
      result: { exit_code: 0, stdout: 'hello\n', stderr: '', truncated: false },
    });
    const b = await finished(bad.task.id);
    expect(b.task).toMatchObject({
      status: 'dead',
      executor: 'shell',
      error: 'exit code 3: it broke',
      result: { exit_code: 3, stdout: 'out', stderr: 'it broke\n' },
    });
  });

  it('caps output, enforces its timeout, and honours an allow list', async () => {
    const q = queue();
    await inProcessWorker(coordinator, {
      queues: [q],
      shell: { outputLimitBytes: 1000, timeoutMs: 300, allow: ['head', 'sleep'] },
      builtins: false,
    });
    const big = await api.submit({
      command: 'head -c 200000 /dev/zero',
      queue: q,
      max_attempts: 1,
    });
    const slow = await api.submit({ command: 'sleep 5', queue: q, max_attempts: 1 });
    const denied = await api.submit({
      command: 'rm -rf /tmp/nothing-here',
      queue: q,
      max_attempts: 3,
    });
    const b = await finished(big.task.id);
    expect((b.task.result as { stdout: string; truncated: boolean }).stdout).toHaveLength(1000);
    expect(b.task.result).toMatchObject({ truncated: true, exit_code: 0 });
    const s = await finished(slow.task.id);
    expect(s.task.status).toBe('dead');
    expect(s.task.error).toMatch(/shell timeout after 300 ms/);
    // A worker with an allow list serves just those programs: a command it would refuse is
    // never handed to it, and waits for a worker that can run it.
    const d = await api.get(denied.task.id);
    expect(d.task).toMatchObject({ status: 'pending', attempt: 0 });
    expect(d.waitingFor).toMatch(/no connected worker handles 'rm'/);
  });
});
