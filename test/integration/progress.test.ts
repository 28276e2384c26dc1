import { describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';
import { readSse } from '../helpers/sse.js';

const db = await useSchema();
const api = new TasksApi(db);

describe('progress', () => {
  it('the last report before a handler returns is stored, and watchers see it before the result', async () => {
    const c = await inProcessCoordinator(db);
    await inProcessWorker(c, { queues: ['progress'] }, (w) =>
      w.handle('report', async (_p, ctx) => {
        ctx.progress(10);
        await new Promise((r) => setTimeout(r, 300));
        ctx.progress(100, 'done');
        return { ok: true };
      }),
    );
    const { task } = await api.submit({
      command: 'report',
      queue: 'progress',
      run_at: new Date(Date.now() + 1500).toISOString(),
    });
    const { events } = await readSse(
      `http://127.0.0.1:${c.httpPort}/v1/tasks/${task.id}/events`,
      (evs) => evs.some((e) => e.event === 'task' && e.data.status === 'succeeded'),
    );
    const seen = events.map((e) =>
      e.event === 'progress' ? `progress ${e.data.percent}` : `task ${e.data.status}`,
    );
    expect(seen).toContain('progress 100');
    expect(seen.indexOf('progress 100')).toBeLessThan(seen.indexOf('task succeeded'));
    const stored = (await api.get(task.id)).task;
    expect(stored).toMatchObject({
      status: 'succeeded',
      progressPercent: 100,
      progressMessage: 'done',
    });
  });
});
