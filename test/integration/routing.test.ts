import { describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import { childEnv } from '../helpers/cluster.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';
import { startTaskq } from '../helpers/processes.js';
import { until } from '../helpers/wait.js';

/**
 * Worker routing: a task that requires labels waits until a worker with them connects, then
 * runs only there; the API says why it waits.
 */
const db = await useSchema();
const api = new TasksApi(db);

describe('worker routing by labels', () => {
  it('a task requiring gpu waits, says why, then runs only on a gpu worker (two coordinators)', async () => {
    const c1 = await inProcessCoordinator(db);
    const c2 = await inProcessCoordinator(db);
    const plain = await inProcessWorker(c1, { queues: ['route'], labels: { region: 'eu' } });
    const { task: gpuTask } = await api.submit({
      command: 'echo render',
      queue: 'route',
      requires: { gpu: 'true', region: 'eu' },
    });
    const { task: anyTask } = await api.submit({ command: 'echo plain', queue: 'route' });
    await until(async () => (await api.get(anyTask.id)).task.status === 'succeeded');
    // The plain worker ran the other task but was never handed this one.
    await new Promise((r) => setTimeout(r, 500));
    const waiting = await api.get(gpuTask.id);
    expect(waiting.task).toMatchObject({
      status: 'pending',
      attempt: 0,
      requires: { gpu: 'true', region: 'eu' },
    });
    expect(waiting.waitingFor).toBe(
      "no connected worker handles 'echo' on queue 'route' with labels gpu=true, region=eu",
    );
    // A worker with the labels, as a separate process on the second coordinator.
    const gpu = startTaskq(
      'gpu worker',
      [
        'worker',
        '--coordinator',
        `127.0.0.1:${c2.grpcPort}`,
        '--queues',
        'route',
        '--label',
        'gpu=true',
        '--label',
        'region=eu',
        '--name',
        'gpu-1',
      ],
      childEnv(db.schema),
    );
    const connected = await gpu.waitForMsg('connected');
    await until(async () => (await api.get(gpuTask.id)).task.status === 'succeeded');
    const done = await api.get(gpuTask.id);
    expect(done.task.workerId).toBe(connected.workerId);
    expect(done.task.workerId).not.toBe(plain.id);
  });

  it('refuses requires that are not a map of short labels, naming the field', async () => {
    await expect(
      api.submit({ command: 'echo', requires: { 'bad key': 'x' } }),
    ).rejects.toMatchObject({
      field: expect.stringMatching(/^requires/),
    });
    await expect(
      api.submit({ command: 'echo', requires: { gpu: 1 } as unknown as Record<string, string> }),
    ).rejects.toMatchObject({ field: 'requires.gpu' });
  });
});
