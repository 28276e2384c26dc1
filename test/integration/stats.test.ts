import { describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/tasks-api.js';
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
