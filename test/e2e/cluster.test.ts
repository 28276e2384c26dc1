import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { startCoordinator, startScheduler, startWorker } from '../helpers/cluster.js';
import type { TaskqProcess } from '../helpers/processes.js';

/**
 * The system as users run it: a coordinator, a scheduler and workers as separate `taskq`
 * processes, talking over real ports to a real PostgreSQL. Each test uses its own queue,
 * so workers of one test never see another's tasks.
 */

const db = await useSchema();
let coordinator: { proc: TaskqProcess; grpcPort: number; httpPort: number };
let api = '';
let seq = 0;
const queue = (): string => `e2e${++seq}`;

beforeAll(async () => {
  coordinator = await startCoordinator(db.schema, { scope: 'file' });
  const scheduler = await startScheduler(db.schema, 'file');
  api = `http://127.0.0.1:${scheduler.httpPort}`;
});

interface TaskJson {
  id: string;
  status: string;
  attempt: number;
  worker_id: string | null;
  result: any;
  error: string | null;
  run_at: string;
  attempts: Array<{ attempt: number; outcome: string; worker_id: string; error: string | null }>;
}

async function submit(body: object): Promise<TaskJson> {
  const res = await fetch(`${api}/v1/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as TaskJson;
}

async function get(id: string): Promise<TaskJson> {
  return (await (await fetch(`${api}/v1/tasks/${id}`)).json()) as TaskJson;
}

async function waitFor(
  id: string,
  pred: (t: TaskJson) => boolean,
  timeoutMs = 30_000,
): Promise<TaskJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await get(id);
    if (pred(t)) return t;
    if (Date.now() > deadline)
      throw new Error(`task ${id} did not reach the expected state; last: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const done = (t: TaskJson): boolean => ['succeeded', 'dead', 'cancelled'].includes(t.status);

describe('end to end, as separate processes', () => {
  it("runs the seed's two curl commands verbatim", async () => {
    const w = await startWorker(db.schema, coordinator.grpcPort);
    const run = promisify(execFile);
    const { stdout } = await run('curl', [
      '-s',
      '-X',
      'POST',
      `${api}/schedule`,
      '-d',
      '{"command":"echo hi", "scheduled_at":"2023-04-01T15:04:05Z"}',
    ]);
    const created = JSON.parse(stdout) as {
      task_id: string;
      command: string;
      scheduled_at: string;
    };
    expect(created).toMatchObject({ command: 'echo hi', scheduled_at: '2023-04-01T15:04:05.000Z' });
    await waitFor(created.task_id, done);
    const status = JSON.parse(
      (await run('curl', ['-s', `${api}/status?task_id=${created.task_id}`])).stdout,
    ) as Record<string, string>;
    expect(status).toMatchObject({
      task_id: created.task_id,
      command: 'echo hi',
      status: 'succeeded',
    });
    for (const k of ['picked_at', 'started_at', 'completed_at'])
      expect(Date.parse(status[k] as string)).toBeGreaterThan(0);
    expect(status.failed_at).toBeUndefined();
    await w.proc.stop();
  });

  it('never starts a task before its run_at, and starts it within a second after', async () => {
    const q = queue();
    await startWorker(db.schema, coordinator.grpcPort, { queue: q });
    const runAt = new Date(Date.now() + 2000);
    const t = await submit({ command: 'stamp', queue: q, run_at: runAt.toISOString() });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await get(t.id)).status).toBe('pending');
    const finished = await waitFor(t.id, done);
    expect(finished.status).toBe('succeeded');
    const startedAt = finished.result.at as number;
    expect(startedAt).toBeGreaterThanOrEqual(Date.parse(finished.run_at));
    expect(startedAt - Date.parse(finished.run_at)).toBeLessThan(1000);
  });

  it('spreads 100 tasks over 2 workers, and each runs some', async () => {
    const q = queue();
    const a = await startWorker(db.schema, coordinator.grpcPort, { queue: q, name: 'a' });
    const b = await startWorker(db.schema, coordinator.grpcPort, { queue: q, name: 'b' });
    const tasks = await Promise.all(
      Array.from({ length: 100 }, (_, i) => submit({ command: `echo ${i}`, queue: q })),
    );
    const results = await Promise.all(tasks.map((t) => waitFor(t.id, done)));
    expect(results.every((r) => r.status === 'succeeded')).toBe(true);
    const byWorker = new Map<string, number>();
    for (const r of results)
      byWorker.set(r.worker_id as string, (byWorker.get(r.worker_id as string) ?? 0) + 1);
    expect([...byWorker.keys()].sort()).toEqual([a.workerId, b.workerId].sort());
    for (const n of byWorker.values()) expect(n).toBeGreaterThan(0);
  });

  it('re-dispatches the task of a worker killed with -9 to the other worker, as attempt 2', async () => {
    const q = queue();
    const a = await startWorker(db.schema, coordinator.grpcPort, { queue: q, name: 'a' });
    const b = await startWorker(db.schema, coordinator.grpcPort, { queue: q, name: 'b' });
    const t = await submit({ command: 'hold', payload: { ms: 1500 }, queue: q });
    const running = await waitFor(t.id, (x) => x.status === 'running');
    const [victim, survivor] = running.worker_id === a.workerId ? [a, b] : [b, a];
    victim.proc.signal('SIGKILL');
    const finished = await waitFor(t.id, done);
    expect(finished).toMatchObject({
      status: 'succeeded',
      attempt: 2,
      worker_id: survivor.workerId,
    });
    expect(finished.result.pid).toBe(survivor.proc.pid);
    expect(finished.attempts.map((x) => [x.attempt, x.outcome, x.worker_id])).toEqual([
      [1, 'lease_expired', victim.workerId],
      [2, 'succeeded', survivor.workerId],
    ]);
  });

  it('rejects the late result of a paused (zombie) worker after its task ran elsewhere', async () => {
    const q = queue();
    const a = await startWorker(db.schema, coordinator.grpcPort, { queue: q, name: 'a' });
    const t = await submit({ command: 'hold', payload: { ms: 1000 }, queue: q });
    await waitFor(t.id, (x) => x.status === 'running' && x.worker_id === a.workerId);
    a.proc.signal('SIGSTOP');
    const b = await startWorker(db.schema, coordinator.grpcPort, { queue: q, name: 'b' });
    const finished = await waitFor(t.id, (x) => x.status === 'succeeded');
    expect(finished).toMatchObject({ attempt: 2, worker_id: b.workerId });
    a.proc.signal('SIGCONT');
    const rejection = await coordinator.proc.waitForLog(
      (l) =>
        l.msg ===
          'result refused: the attempt is no longer current, or this worker does not hold it' &&
        l.taskId === t.id,
    );
    expect(rejection).toMatchObject({ attempt: 1, workerId: a.workerId });
    const after = await get(t.id);
    expect(after).toMatchObject({ status: 'succeeded', attempt: 2, worker_id: b.workerId });
    expect(after.result.pid).toBe(b.proc.pid);
  });

  it('keeps tasks pending while no worker runs, and runs them when one returns', async () => {
    const q = queue();
    const w = await startWorker(db.schema, coordinator.grpcPort, { queue: q });
    await w.proc.stop();
    expect(w.proc.exitCode).toBe(0);
    const tasks = await Promise.all(
      Array.from({ length: 5 }, (_, i) => submit({ command: `echo ${i}`, queue: q })),
    );
    await new Promise((r) => setTimeout(r, 1500));
    for (const t of tasks) {
      const now = await get(t.id);
      expect(now.status).toBe('pending');
      expect((now as unknown as { waiting_for: string }).waiting_for).toMatch(
        /no connected worker handles 'echo'/,
      );
    }
    await startWorker(db.schema, coordinator.grpcPort, { queue: q });
    const results = await Promise.all(tasks.map((t) => waitFor(t.id, done)));
    expect(results.map((r) => r.status)).toEqual(Array(5).fill('succeeded'));
  });

  it('stores the error of a throwing handler, retries up to max_attempts, then marks it dead', async () => {
    const q = queue();
    await startWorker(db.schema, coordinator.grpcPort, { queue: q });
    const t = await submit({
      command: 'fail',
      payload: { message: 'disk full' },
      queue: q,
      max_attempts: 3,
      backoff_ms: 50,
    });
    const finished = await waitFor(t.id, done);
    expect(finished).toMatchObject({ status: 'dead', attempt: 3, error: 'disk full' });
    expect(finished.attempts.map((x) => [x.outcome, x.error])).toEqual([
      ['failed', 'disk full'],
      ['failed', 'disk full'],
      ['failed', 'disk full'],
    ]);
  });

  it('finishes the task in hand on SIGTERM, then exits 0', async () => {
    const q = queue();
    const w = await startWorker(db.schema, coordinator.grpcPort, { queue: q });
    const t = await submit({ command: 'hold', payload: { ms: 800 }, queue: q });
    await waitFor(t.id, (x) => x.status === 'running');
    w.proc.signal('SIGTERM');
    await w.proc.exited;
    expect(w.proc.exitCode).toBe(0);
    expect(await get(t.id)).toMatchObject({
      status: 'succeeded',
      attempt: 1,
      worker_id: w.workerId,
    });
  });

  it('serves TaskService to a generic gRPC client (buf curl)', async () => {
    const run = promisify(execFile);
    const buf = new URL('../../node_modules/.bin/buf', import.meta.url).pathname;
    const base = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--schema', 'proto'];
    const submitted = await run(buf, [
      ...base,
      '--data',
      '{"command":"echo via buf","queue":"buf-q"}',
      `http://127.0.0.1:${coordinator.grpcPort}/taskqueue.v1.TaskService/SubmitTask`,
    ]);
    const task = (
      JSON.parse(submitted.stdout) as { task: { id: string; command: string; status: string } }
    ).task;
    expect(task).toMatchObject({ command: 'echo via buf', status: 'TASK_STATUS_PENDING' });
    const got = await run(buf, [
      ...base,
      '--data',
      JSON.stringify({ id: task.id }),
      `http://127.0.0.1:${coordinator.grpcPort}/taskqueue.v1.TaskService/GetTask`,
    ]);
    expect(JSON.parse(got.stdout)).toMatchObject({ task: { id: task.id, queue: 'buf-q' } });
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    const { rows } = await pool.query(`SELECT command FROM ${db.s}.tasks WHERE id = $1`, [task.id]);
    await pool.end();
    expect(rows).toEqual([{ command: 'echo via buf' }]);
  });
});
