import { afterAll, describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator } from '../helpers/inprocess.js';

const db = await useSchema();
const warnings: string[] = [];
const onWarning = (w: Error): void => {
  warnings.push(`${w.name}: ${w.message}`);
};
process.on('warning', onWarning);
afterAll(() => {
  process.off('warning', onWarning);
});

describe('a task due far in the future', () => {
  it('arms no timer beyond what Node allows, so the dispatcher does not spin', async () => {
    await inProcessCoordinator(db);
    const api = new TasksApi(db);
    const { task } = await api.submit({
      command: 'echo next year',
      run_at: new Date(Date.now() + 365 * 86_400_000).toISOString(),
    });
    // The coordinator hears the insert and polls once a second: give it two polls.
    await new Promise((r) => setTimeout(r, 2500));
    expect(warnings.filter((w) => w.startsWith('TimeoutOverflowWarning'))).toEqual([]);
    expect((await api.get(task.id)).task.status).toBe('pending');
  });
});
