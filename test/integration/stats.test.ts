import { describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';

const db = await useSchema();
const api = new TasksApi(db);

describe('GET /v1/stats', () => {
  it('counts recent successes and failures per bucket, with latency percentiles, depth and workers', async () => {
    const c = await inProcessCoordinator(db);
    await inProcessWorker(c, { queues: ['stats'], concurrency: 4 }, (w) =>
      w.handle('boom', () => {
        throw new Error('no');
      }),
    );
    const ok = await Promise.all(
      Array.from({ length: 12 }, (_, i) => api.submit({ command: `echo ${i}`, queue: 'stats' })),
    );
    const bad = await api.submit({
      command: 'boom',
      queue: 'stats',
      max_attempts: 2,
      backoff_ms: 0,
    });
    await api.submit({
      command: 'echo later',
      queue: 'stats',
      run_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const ids = [...ok.map((t) => t.task.id), bad.task.id];
    for (let i = 0; i < 200; i++) {
      const states = await Promise.all(
        ids.map(async (id) => (await api.get(id, { detail: false })).task.status),
      );
      if (states.every((s) => s === 'succeeded' || s === 'dead')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const res = await fetch(`http://127.0.0.1:${c.httpPort}/v1/stats?window=60&bucket=5`);
    expect(res.status).toBe(200);
    const s = (await res.json()) as any;
    expect(s.series).toHaveLength(12);
    expect(s.series.reduce((n: number, p: { succeeded: number }) => n + p.succeeded, 0)).toBe(12);
    expect(
      s.series.reduce((n: number, p: { failed: number }) => n + p.failed, 0),
    ).toBeGreaterThanOrEqual(1);
    expect(s.wait_ms.p50).toBeGreaterThanOrEqual(0);
    expect(s.run_ms.p99).toBeGreaterThanOrEqual(s.run_ms.p50);
    expect(s.depth).toMatchObject({ scheduled: 1, dead: 1 });
    expect(s.workers).toMatchObject({ live: 1, slots: 4 });
    expect((await fetch(`http://127.0.0.1:${c.httpPort}/v1/stats?window=5`)).status).toBe(400);
  });
});

describe('wait latency', () => {
  it('counts from when a task became due here, not from a run_at years before its submit', async () => {
    const c = await inProcessCoordinator(db);
    await inProcessWorker(c, { queues: ['old-run-at'] });
    const before = await dispatchLatencySum(c.httpPort);
    // The seed's own example: a scheduled_at long past.
    const { task } = await api.submit({
      command: 'echo hi',
      queue: 'old-run-at',
      run_at: '2023-04-01T15:04:05Z',
    });
    for (let i = 0; i < 200; i++) {
      if ((await api.get(task.id, { detail: false })).task.status === 'succeeded') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const s = (await (
      await fetch(`http://127.0.0.1:${c.httpPort}/v1/stats?window=60&bucket=5`)
    ).json()) as any;
    expect(s.wait_ms.p99).toBeLessThan(60_000);
    expect((await dispatchLatencySum(c.httpPort)) - before).toBeLessThan(60);
  });
});

async function dispatchLatencySum(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('taskq_dispatch_latency_seconds_sum'))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

describe('paused work', () => {
  it('is counted apart from work waiting for a worker', async () => {
    const c = await inProcessCoordinator(db);
    const base = `http://127.0.0.1:${c.httpPort}`;
    const depth = async () =>
      ((await (await fetch(`${base}/v1/stats?window=60&bucket=5`)).json()) as any).depth;
    const before = await depth();
    expect((await fetch(`${base}/v1/queues/held/pause`, { method: 'POST' })).status).toBe(200);
    await Promise.all([1, 2, 3].map((i) => api.submit({ command: `echo ${i}`, queue: 'held' })));
    await api.submit({ command: 'echo free', queue: 'nobody-serves-this-one' });
    const after = await depth();
    expect(after.paused - before.paused).toBe(3);
    expect(after.due - before.due).toBe(1);
  });
});
