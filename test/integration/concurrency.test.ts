import { describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import { ValidationError } from '../../src/lib/errors.js';
import { updateQueue } from '../../src/store/queues.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';

const db = await useSchema();
const api = new TasksApi(db);

describe('concurrency limits', () => {
  it('never runs more than the queue limit, or the per-key limit, across coordinators and workers', async () => {
    await updateQueue(db, 'limited', { concurrencyLimit: 5, keyConcurrencyLimit: 2 });
    const c1 = await inProcessCoordinator(db);
    const c2 = await inProcessCoordinator(db);
    let running = 0;
    let maxRunning = 0;
    const perKey = new Map<string, number>();
    let maxPerKey = 0;
    const setup = (w: { handle: (n: string, f: (p: unknown) => Promise<unknown>) => unknown }) =>
      w.handle('limited-work', async (payload) => {
        const key = (payload as { key: string | null }).key;
        running++;
        maxRunning = Math.max(maxRunning, running);
        if (key) {
          perKey.set(key, (perKey.get(key) ?? 0) + 1);
          maxPerKey = Math.max(maxPerKey, perKey.get(key) ?? 0);
        }
        await new Promise((r) => setTimeout(r, 15 + Math.random() * 25));
        if (key) perKey.set(key, (perKey.get(key) ?? 1) - 1);
        running--;
        return null;
      });
    for (const [i, c] of [c1, c2, c1].entries()) {
      await inProcessWorker(c, { queues: ['limited'], concurrency: 8, name: `w${i}` }, setup);
    }
    const tasks = [
      ...Array.from({ length: 150 }, (_, i) => ({
        command: 'limited-work',
        queue: 'limited',
        payload: { key: `k${i % 3}` },
        concurrency_key: `k${i % 3}`,
      })),
      ...Array.from({ length: 30 }, () => ({
        command: 'limited-work',
        queue: 'limited',
        payload: { key: null },
      })),
    ];
    const ids = (await api.submitBatch(tasks)).map((t) => t.id);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { rows } = await db.pool.query(
        `SELECT count(*)::int AS n FROM ${db.s}.tasks WHERE id = ANY ($1::uuid[]) AND status <> 'succeeded'`,
        [ids],
      );
      if (rows[0].n === 0) break;
      if (Date.now() > deadline) throw new Error(`${rows[0].n} tasks unfinished`);
      await new Promise((r) => setTimeout(r, 50));
    }
    process.stdout.write(
      `concurrency limits: max running ${maxRunning} (limit 5), max per key ${maxPerKey} (limit 2)\n`,
    );
    expect(maxRunning).toBeLessThanOrEqual(5);
    expect(maxPerKey).toBeLessThanOrEqual(2);
    // The limits were actually reached, so the test measured something.
    expect(maxRunning).toBe(5);
    expect(maxPerKey).toBe(2);
  });

  it('refuses a concurrency_key in a queue without a per-key limit, saying what to do', async () => {
    const err = await api
      .submit({ command: 'x', queue: 'free', concurrency_key: 'c1' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('concurrency_key');
    expect((err as Error).message).toMatch(/PUT \/v1\/queues\/free \{"key_concurrency_limit": N\}/);
  });
});
