import { randomBytes } from 'node:crypto';
import { Code } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import type { Coordinator } from '../../src/coordinator/index.js';
import { packCompletions, packStarts } from '../../src/lib/packed.js';
import { createToken, revokeToken } from '../../src/store/tokens.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';
import { until } from '../helpers/wait.js';
import { RawWorker } from './raw-worker.js';

/**
 * Workers are trusted with their own tasks and nothing else. These attack the coordinator
 * from a second worker stream, with every message a worker can send.
 */
const db = await useSchema();
const api = new TasksApi(db);

async function refused(c: Coordinator, kind: string): Promise<number> {
  const m = await c.metrics!.reportsRefused.get();
  return m.values.find((v) => v.labels.kind === kind)?.value ?? 0;
}

/**
 * A real worker on `queue` holding `n` tasks of it, running, until `release()`: each task's
 * result is `{ real: payload }`, its payload being its place (1, 2…).
 */
async function holding(c: Coordinator, queue: string, n = 1) {
  let release: (v: unknown) => void = () => undefined;
  const held = new Promise((r) => (release = r));
  const real = await inProcessWorker(c, { queues: [queue] }, (w) =>
    w.handle('hold', async (payload) => {
      await held;
      return { real: payload };
    }),
  );
  const ids = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const { task } = await api.submit({ command: 'hold', queue, payload: i + 1 });
      return task.id;
    }),
  );
  await until(async () => {
    const tasks = await Promise.all(ids.map((id) => api.get(id)));
    return tasks.every((t) => t.task.status === 'running');
  });
  return { real, ids, release: () => release(undefined) };
}

describe('a second worker', () => {
  it("cannot finish, start, extend or report progress on another worker's task", async () => {
    const c = await inProcessCoordinator(db);
    const { real, ids, release } = await holding(c, 'forge');
    const task = { id: ids[0] as string };
    const before = Object.fromEntries(
      await Promise.all(
        ['result', 'start', 'progress', 'lease'].map(async (k) => [k, await refused(c, k)]),
      ),
    );

    const forger = new RawWorker(c.grpcPort);
    forger.hello(`forger-${randomBytes(4).toString('hex')}`);
    await forger.waitFor((m) => m.welcome !== undefined);
    const ref = { taskId: task.id, attempt: 1 };
    forger.send({
      started: packStarts([{ ...ref, startedAtMs: BigInt(Date.now() - 3_600_000) }]),
      progress: [{ ref, percent: 99, message: 'forged' }],
    });
    await until(
      async () =>
        (await refused(c, 'start')) > before.start &&
        (await refused(c, 'progress')) > before.progress,
      10_000,
      'start and progress refusals',
    );
    forger.send({
      completed: packCompletions([
        { ...ref, ok: true, resultJson: '{"forged":true}', executor: 'handler' },
      ]),
    });
    const ack = await forger.waitFor((m) => m.refused !== undefined || m.accepted !== undefined);
    expect(ack?.refused).toMatchObject({ taskId: [task.id], attempt: [1] });
    expect(ack?.accepted).toBeUndefined();
    // A heartbeat that claims the task, to keep its lease alive (or to starve the holder's).
    forger.send({ heartbeat: { running: [ref] } });
    await until(async () => (await refused(c, 'lease')) > before.lease, 10_000, 'lease refusal');
    expect(await refused(c, 'result')).toBe(before.result + 1);
    expect(await refused(c, 'start')).toBe(before.start + 1);
    expect(await refused(c, 'progress')).toBe(before.progress + 1);

    const during = (await api.get(task.id)).task;
    expect(during).toMatchObject({ status: 'running', workerId: real.id, result: null });
    expect(during.progressPercent).not.toBe(99);
    expect(during.startedAt!.getTime()).toBeGreaterThan(Date.now() - 600_000);

    // The holder's own result still counts, and is the one stored.
    release();
    await until(async () => (await api.get(task.id)).task.status === 'succeeded');
    expect((await api.get(task.id)).task).toMatchObject({
      status: 'succeeded',
      result: { real: 1 },
      workerId: real.id,
    });
  });

  it("cannot finish another worker's tasks with a packed completion", async () => {
    const c = await inProcessCoordinator(db);
    const { real, ids, release } = await holding(c, 'forge-packed', 2);
    const before = await refused(c, 'result');

    // One packed message naming both tasks, at their current attempt: the holder's own form.
    const forger = new RawWorker(c.grpcPort);
    forger.hello(`forger-${randomBytes(4).toString('hex')}`);
    await forger.waitFor((m) => m.welcome !== undefined);
    forger.send({
      completed: packCompletions(
        ids.map((id) => ({ taskId: id, attempt: 1, ok: true, resultJson: '{"forged":true}' })),
      ),
    });
    const ack = await forger.waitFor((m) => m.refused !== undefined || m.accepted !== undefined);
    expect(ack?.refused).toMatchObject({ taskId: ids, attempt: [1, 1] });
    expect(ack?.accepted).toBeUndefined();
    await until(async () => (await refused(c, 'result')) === before + 2, 10_000, 'refusals');
    for (const id of ids) {
      expect((await api.get(id)).task).toMatchObject({
        status: 'running',
        workerId: real.id,
        result: null,
      });
    }

    release();
    await until(async () => {
      const tasks = await Promise.all(ids.map((id) => api.get(id)));
      return tasks.every((t) => t.task.status === 'succeeded');
    });
    for (const [i, id] of ids.entries()) {
      expect((await api.get(id)).task).toMatchObject({ result: { real: i + 1 } });
    }
  });

  it('is cut off when it sends a misaligned packed message, and nothing in it counts', async () => {
    const c = await inProcessCoordinator(db);
    const { real, ids, release } = await holding(c, 'misaligned');
    const task = { id: ids[0] as string };
    const before = { result: await refused(c, 'result'), start: await refused(c, 'start') };
    const misaligned = [
      // Two tasks, one attempt: which attempt goes with which task cannot be told.
      {
        completed: {
          ...packCompletions([{ taskId: task.id, attempt: 1, ok: true, resultJson: '1' }]),
          taskId: [task.id, task.id],
        },
      },
      { started: { taskId: [task.id], attempt: [1, 2], startedAtMs: [] } },
    ];
    for (const message of misaligned) {
      const forger = new RawWorker(c.grpcPort);
      forger.hello(`misaligned-${randomBytes(4).toString('hex')}`);
      await forger.waitFor((m) => m.welcome !== undefined);
      forger.send(message);
      await forger.ended;
      expect(forger.error?.code).toBe(Code.InvalidArgument);
      expect(forger.error?.rawMessage).toMatch(/entries for \d+ tasks/);
    }
    await until(() => c.connectedWorkers === 1, 10_000, 'the forgers to be gone');
    expect(await refused(c, 'result')).toBe(before.result);
    expect(await refused(c, 'start')).toBe(before.start);
    expect((await api.get(task.id)).task).toMatchObject({ status: 'running', workerId: real.id });

    release();
    await until(async () => (await api.get(task.id)).task.status === 'succeeded');
    expect((await api.get(task.id)).task.result).toEqual({ real: 1 });
  });

  it('is cut off when a report names a task by something that is not an id, and others still land', async () => {
    const c = await inProcessCoordinator(db);
    const { ids, release } = await holding(c, 'not-an-id');
    const bogus = 'not-a-task';
    const reports = [
      { started: packStarts([{ taskId: bogus, attempt: 1, startedAtMs: 1n }]) },
      { completed: packCompletions([{ taskId: bogus, attempt: 1, ok: true, resultJson: '1' }]) },
      { progress: [{ ref: { taskId: bogus, attempt: 1 }, percent: 5, message: '' }] },
      { heartbeat: { running: [{ taskId: `${ids[0] as string}\u0000`, attempt: 1 }] } },
    ];
    for (const message of reports) {
      const forger = new RawWorker(c.grpcPort);
      forger.hello(`not-an-id-${randomBytes(4).toString('hex')}`);
      await forger.waitFor((m) => m.welcome !== undefined);
      forger.send(message);
      await forger.ended;
      expect(forger.error?.code).toBe(Code.InvalidArgument);
      expect(forger.error?.rawMessage).toMatch(/task_id must be task ids \(UUIDs\)/);
    }
    // The real worker's results are written as ever.
    release();
    await until(async () => (await api.get(ids[0] as string)).task.status === 'succeeded');
    expect((await api.get(ids[0] as string)).task.result).toEqual({ real: 1 });
  });

  it('is refused when its hello speaks an older version of the stream', async () => {
    const c = await inProcessCoordinator(db);
    const old = new RawWorker(c.grpcPort);
    old.hello(`old-${randomBytes(4).toString('hex')}`, { protocol: 0 });
    await old.ended;
    expect(old.error?.code).toBe(Code.FailedPrecondition);
    expect(old.error?.rawMessage).toMatch(/version 1 of the worker stream/);
  });

  it("is refused when its hello names a connected worker's id, and the real worker keeps its work", async () => {
    const c = await inProcessCoordinator(db);
    const real = await inProcessWorker(c, { queues: ['impersonate'] });
    const impostor = new RawWorker(c.grpcPort);
    impostor.hello(real.id, { queues: ['impersonate'], handlers: ['echo'], credits: 1 });
    await impostor.ended;
    expect(impostor.error?.code).toBe(Code.PermissionDenied);
    expect(impostor.error?.rawMessage).toMatch(/belongs to another worker process/);

    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api.submit({ command: `echo ${i}`, queue: 'impersonate' }).then((r) => r.task.id),
      ),
    );
    await until(async () => {
      const tasks = await Promise.all(ids.map((id) => api.get(id)));
      return tasks.every((t) => t.task.status === 'succeeded');
    });
    for (const id of ids) expect((await api.get(id)).task.workerId).toBe(real.id);

    // Gone or not, the id stays the process's own.
    await real.stop();
    const later = new RawWorker(c.grpcPort);
    later.hello(real.id, { queues: ['impersonate'], handlers: ['echo'] });
    await later.ended;
    expect(later.error?.code).toBe(Code.PermissionDenied);
  });

  it('may reconnect as itself: the same id with the same instance key', async () => {
    const c = await inProcessCoordinator(db);
    const id = `rejoin-${randomBytes(4).toString('hex')}`;
    const first = new RawWorker(c.grpcPort);
    const key = first.hello(id);
    expect(await first.waitFor((m) => m.welcome !== undefined)).toBeDefined();
    const second = new RawWorker(c.grpcPort);
    second.hello(id, { instanceKey: key });
    expect(await second.waitFor((m) => m.welcome !== undefined)).toBeDefined();
  });
});

describe('with tokens', () => {
  it('binds a worker id to the token it first connected with', async () => {
    const c = await inProcessCoordinator(db);
    const a = (await createToken(db, { name: 'workers-a', role: 'worker' })).token;
    const b = (await createToken(db, { name: 'workers-b', role: 'worker' })).token;
    await until(
      async () => {
        const probe = new RawWorker(c.grpcPort);
        probe.hello(`probe-${randomBytes(4).toString('hex')}`);
        await probe.ended;
        return probe.error?.code === Code.Unauthenticated;
      },
      10_000,
      'authentication to switch on',
    );
    const id = `bound-${randomBytes(4).toString('hex')}`;
    const first = new RawWorker(c.grpcPort, a);
    const key = first.hello(id);
    expect(await first.waitFor((m) => m.welcome !== undefined)).toBeDefined();
    await first.close();
    const other = new RawWorker(c.grpcPort, b);
    other.hello(id, { instanceKey: key });
    await other.ended;
    expect(other.error?.code).toBe(Code.PermissionDenied);
    expect(other.error?.rawMessage).toMatch(/bound to another token/);
    await revokeToken(db, 'workers-a');
    await revokeToken(db, 'workers-b');
  });

  it('ends a worker stream and an SSE stream within 2 s of their tokens being revoked', async () => {
    const c = await inProcessCoordinator(db);
    const worker = (await createToken(db, { name: 'revoked-worker', role: 'worker' })).token;
    const reader = (await createToken(db, { name: 'revoked-reader', role: 'read' })).token;
    // The cache of "tokens are in use" may predate the tokens: wait until they are required.
    await until(
      async () => (await fetch(`http://127.0.0.1:${c.httpPort}/v1/queues`)).status === 401,
      10_000,
      'authentication to switch on',
    );
    const stream = new RawWorker(c.grpcPort, worker);
    stream.hello(`revoked-${randomBytes(4).toString('hex')}`);
    expect(await stream.waitFor((m) => m.welcome !== undefined)).toBeDefined();
    const sse = await fetch(`http://127.0.0.1:${c.httpPort}/v1/events`, {
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(sse.status).toBe(200);
    const sseEnded = (async () => {
      for await (const _ of sse.body as unknown as AsyncIterable<Uint8Array>) void _;
      return Date.now();
    })();

    const revokedAt = Date.now();
    await revokeToken(db, 'revoked-worker');
    await revokeToken(db, 'revoked-reader');
    await stream.ended;
    const workerEndedMs = Date.now() - revokedAt;
    const sseEndedMs = (await sseEnded) - revokedAt;
    expect(stream.error?.code).toBe(Code.Unauthenticated);
    // The promise is 2 s; the bound leaves room for a loaded machine's timers.
    expect(workerEndedMs).toBeLessThan(3500);
    expect(sseEndedMs).toBeLessThan(3500);
    expect(c.connectedWorkers).toBe(0);
  });
});
