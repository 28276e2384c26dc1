import { describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import type { Coordinator } from '../../src/coordinator/index.js';
import { childEnv } from '../helpers/cluster.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator } from '../helpers/inprocess.js';
import { startTaskq } from '../helpers/processes.js';
import { until } from '../helpers/wait.js';

/**
 * Stickiness: tasks with the same sticky_key go to the worker that took the key's last task
 * while it is connected and has a free slot, and to another worker (which then holds the key)
 * when it is gone or full. Workers are separate processes.
 */
const db = await useSchema();
const api = new TasksApi(db);
const QUEUE = 'sticky';

/** A `taskq worker` process on `queue`, with the built-in echo and sleep handlers. */
function startWorker(c: Coordinator, name: string, queue: string, concurrency: number) {
  return startTaskq(
    name,
    [
      'worker',
      '--coordinator',
      `127.0.0.1:${c.grpcPort}`,
      '--queues',
      queue,
      '--concurrency',
      String(concurrency),
      '--name',
      name,
    ],
    childEnv(db.schema),
  );
}

async function runAll(commands: Array<{ command: string; sticky_key: string }>) {
  const results = await api.submitBatch(commands.map((c) => ({ ...c, queue: QUEUE })));
  const ids = results.map((r) => r.id);
  await until(async () => {
    for (const id of ids) if ((await api.get(id)).task.status !== 'succeeded') return false;
    return true;
  });
  return Promise.all(ids.map(async (id) => (await api.get(id)).task));
}

describe('sticky keys', () => {
  it("hands a key's tasks to the worker that took its last one, and to another once it is gone", async () => {
    const c = await inProcessCoordinator(db, { leaseMs: 1500, heartbeatMs: 300 });
    const a = startWorker(c, 'sticky-a', QUEUE, 8);
    const b = startWorker(c, 'sticky-b', QUEUE, 8);
    const ids = new Map<string, string>();
    for (const [name, p] of [
      ['a', a],
      ['b', b],
    ] as const) {
      ids.set(name, (await p.waitForMsg('connected')).workerId as string);
    }
    await until(() => c.connectedWorkers === 2);
    const keys = Array.from({ length: 8 }, (_, i) => `session-${i}`);

    // One claim hands the first task of each key out over both workers.
    const first = await runAll(keys.map((k) => ({ command: `echo ${k}`, sticky_key: k })));
    const holder = new Map(first.map((t) => [t.stickyKey as string, t.workerId as string]));
    expect(first.every((t) => t.stickyKey !== null)).toBe(true);
    expect(new Set(holder.values())).toEqual(new Set(ids.values()));

    // Later rounds, submitted in other orders (so plain slot order would pair them with
    // other workers), go where their key's last task went.
    for (const order of [[...keys].reverse(), [...keys.slice(3), ...keys.slice(0, 3)]]) {
      const round = await runAll(order.map((k) => ({ command: `echo ${k}`, sticky_key: k })));
      expect(round.map((t) => [t.stickyKey, t.workerId])).toEqual(
        order.map((k) => [k, holder.get(k)]),
      );
    }

    // A key's holder gone: its tasks go to the worker that is left, which then holds them.
    const aKeys = keys.filter((k) => holder.get(k) === ids.get('a'));
    expect(aKeys.length).toBeGreaterThan(0);
    a.signal('SIGKILL');
    await until(() => c.connectedWorkers === 1);
    // Its stream ended: it holds no key any more.
    const heldBy = async (worker: string | undefined) =>
      (
        await db.pool.query(
          `SELECT 1 FROM ${db.s}.sticky_holders WHERE queue = $1 AND worker_id = $2`,
          [QUEUE, worker],
        )
      ).rowCount;
    await until(async () => (await heldBy(ids.get('a'))) === 0);
    const moved = await runAll(aKeys.map((k) => ({ command: `echo ${k}`, sticky_key: k })));
    expect(moved.every((t) => t.workerId === ids.get('b'))).toBe(true);
    const { rows } = await db.pool.query<{ worker_id: string }>(
      `SELECT DISTINCT worker_id FROM ${db.s}.sticky_holders WHERE queue = $1`,
      [QUEUE],
    );
    expect(rows.map((r) => r.worker_id)).toEqual([ids.get('b')]);
  });

  it('is a preference, never a wait: a full holder does not hold its key back', async () => {
    const c = await inProcessCoordinator(db, { leaseMs: 5000, heartbeatMs: 300 });
    const one = startWorker(c, 'full-1', 'sticky-full', 1);
    const two = startWorker(c, 'full-2', 'sticky-full', 1);
    const oneId = (await one.waitForMsg('connected')).workerId as string;
    const twoId = (await two.waitForMsg('connected')).workerId as string;
    const submit = (command: string) =>
      api.submit({ command, queue: 'sticky-full', sticky_key: 'cart-1' });
    await until(() => c.connectedWorkers === 2);
    const { task: long } = await submit('sleep 8000');
    await until(async () => (await api.get(long.id)).task.status === 'running');
    const holderId = (await api.get(long.id)).task.workerId;
    // Its holder has no free slot for 8 s: the next task of the key runs on the other worker now.
    const { task: next } = await submit('echo next');
    await until(async () => (await api.get(next.id)).task.status === 'succeeded', 6000);
    const ran = (await api.get(next.id)).task;
    expect([oneId, twoId]).toContain(holderId);
    expect(ran.workerId).toBe(holderId === oneId ? twoId : oneId);
    expect((await api.get(long.id)).task.status).toBe('running');
    await api.cancel(long.id);
  });

  it('refuses a sticky_key that is not short text, naming the field', async () => {
    await expect(api.submit({ command: 'echo', sticky_key: '' })).rejects.toMatchObject({
      field: 'sticky_key',
    });
    await expect(
      api.submit({ command: 'echo', sticky_key: 'x'.repeat(1000) }),
    ).rejects.toMatchObject({ field: 'sticky_key' });
    await expect(api.submit({ command: 'echo', sticky_key: 'a\u0000b' })).rejects.toMatchObject({
      field: 'sticky_key',
    });
  });
});
