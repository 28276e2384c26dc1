import { describe, expect, it } from 'vitest';
import { prepareTask } from '../../src/api/services/submit.js';
import { insertTask } from '../../src/store/insert.js';
import { acquireLeadership, type LeaderTerm } from '../../src/store/leader.js';
import { deleteFinished } from '../../src/store/retention.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator } from '../helpers/inprocess.js';

const db = await useSchema();
const DAY = 86_400_000;

/** A task in `status`, last changed `ageDays` ago, with one attempt row. */
async function taskAged(status: string, ageDays: number): Promise<string> {
  const { task } = await insertTask(db, prepareTask({ command: `echo ${status}` }));
  await db.pool.query(
    `UPDATE ${db.s}.tasks SET status = $2, attempt = 1,
       updated_at = now() - $3::int * interval '1 day' WHERE id = $1`,
    [task.id, status, ageDays],
  );
  await db.pool.query(
    `INSERT INTO ${db.s}.task_attempts (task_id, attempt, finished_at, outcome)
     VALUES ($1, 1, now() - $2::int * interval '1 day', 'failed')`,
    [task.id, ageDays],
  );
  return task.id;
}

async function remaining(ids: string[]): Promise<{ tasks: string[]; attempts: string[] }> {
  const tasks = await db.pool.query<{ id: string }>(
    `SELECT id FROM ${db.s}.tasks WHERE id = ANY ($1::uuid[]) ORDER BY id`,
    [ids],
  );
  const attempts = await db.pool.query<{ id: string }>(
    `SELECT task_id AS id FROM ${db.s}.task_attempts WHERE task_id = ANY ($1::uuid[]) ORDER BY task_id`,
    [ids],
  );
  return { tasks: tasks.rows.map((r) => r.id), attempts: attempts.rows.map((r) => r.id) };
}

describe('retention', () => {
  it('deletes finished tasks past the retention period with their attempts, and nothing else', async () => {
    const expired = [
      await taskAged('succeeded', 10),
      await taskAged('dead', 10),
      await taskAged('cancelled', 10),
    ];
    const kept = [
      await taskAged('succeeded', 1),
      await taskAged('pending', 30),
      await taskAged('running', 30),
    ];
    // Seven days, checked every 100 ms.
    await inProcessCoordinator(db, { extra: { retentionMs: 7 * DAY, retentionIntervalMs: 100 } });
    const deadline = Date.now() + 30_000;
    while ((await remaining(expired)).tasks.length > 0) {
      if (Date.now() > deadline) throw new Error('retention did not delete the expired tasks');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await remaining(expired)).toEqual({ tasks: [], attempts: [] });
    const sorted = [...kept].sort();
    expect(await remaining(kept)).toEqual({ tasks: sorted, attempts: sorted });
  });

  it('deletes in batches, and only for the current leader term', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await taskAged('succeeded', 3));
    const term = (await acquireLeadership(db, 'retention-test', 'me', 60_000)) as LeaderTerm;
    const stale = { ...term, epoch: term.epoch - 1 };
    expect(await deleteFinished(db, stale, 2 * DAY, 100)).toBe(0);
    expect((await remaining(ids)).tasks).toHaveLength(5);
    expect(await deleteFinished(db, term, 2 * DAY, 2)).toBe(2);
    expect(await deleteFinished(db, term, 2 * DAY, 100)).toBe(3);
    expect(await remaining(ids)).toEqual({ tasks: [], attempts: [] });
  });

  it("forgets sticky keys whose worker is gone, and keeps a connected worker's", async () => {
    await db.pool.query(
      `INSERT INTO ${db.s}.workers (id, name, queues, handlers, concurrency, disconnected_at, last_seen_at)
       VALUES ('live', 'live', '{}', '{}', 1, NULL, now()),
              ('left', 'left', '{}', '{}', 1, now(), now()),
              ('silent', 'silent', '{}', '{}', 1, NULL, now() - interval '3 days')`,
    );
    await db.pool.query(
      `INSERT INTO ${db.s}.sticky_holders (queue, sticky_key, worker_id)
       VALUES ('q', 'a', 'live'), ('q', 'b', 'left'), ('q', 'c', 'silent'), ('q', 'd', 'unknown')`,
    );
    const term = (await acquireLeadership(db, 'retention-sticky', 'me', 60_000)) as LeaderTerm;
    await deleteFinished(db, { ...term, epoch: term.epoch - 1 }, 2 * DAY, 100);
    const held = async () =>
      (
        await db.pool.query<{ k: string }>(
          `SELECT sticky_key AS k FROM ${db.s}.sticky_holders ORDER BY 1`,
        )
      ).rows.map((r) => r.k);
    // A stale term deletes nothing.
    expect(await held()).toEqual(['a', 'b', 'c', 'd']);
    await deleteFinished(db, term, 2 * DAY, 100);
    expect(await held()).toEqual(['a']);
  });
});
