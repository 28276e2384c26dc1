import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import { prepareTask } from '../../src/api/services/submit.js';
import { WorkflowsApi } from '../../src/api/services/workflows.js';
import { TaskService } from '../../src/gen/taskqueue/v1/task_pb.js';
import { claimDue } from '../../src/store/claim.js';
import { insertTasks } from '../../src/store/insert.js';
import { updateQueue } from '../../src/store/queues.js';
import type { NewTask } from '../../src/store/types.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';
import { until } from '../helpers/wait.js';

/**
 * Fair share: tasks with a group are claimed round robin across groups, so one group's
 * backlog does not hold up another group's tasks by more than one claim.
 */
const db = await useSchema();
const api = new TasksApi(db);

function task(queue: string, group: string | null, priority = 0): NewTask {
  return prepareTask({ command: 'fair', queue, priority, ...(group ? { group } : {}) });
}

async function groupsOf(ids: string[]): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string; group_key: string }>(
    `SELECT id, group_key FROM ${db.s}.tasks WHERE id = ANY ($1::uuid[])`,
    [ids],
  );
  const byId = new Map(rows.map((r) => [r.id, r.group_key]));
  return ids.map((id) => byId.get(id) ?? '?');
}

describe('fair share', () => {
  it("starts a small group's tasks within one claim of a 100,000-task backlog in another group (two coordinators)", async () => {
    const queue = 'fair';
    const backlog = 100_000;
    for (let i = 0; i < backlog; i += 5000) {
      await insertTasks(
        db,
        Array.from({ length: 5000 }, () => task(queue, 'A')),
      );
    }
    const c1 = await inProcessCoordinator(db);
    const c2 = await inProcessCoordinator(db);
    const concurrency = 4;
    const workers = 2;
    for (const [i, c] of [c1, c2].entries()) {
      await inProcessWorker(c, { queues: [queue], concurrency, name: `fair-${i}` }, (w) =>
        w.handle('fair', async () => {
          await new Promise((r) => setTimeout(r, 10));
          return null;
        }),
      );
    }
    const startedA = async () =>
      (
        await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${db.s}.tasks
             WHERE queue = $1 AND group_key = 'A' AND started_at IS NOT NULL`,
          [queue],
        )
      ).rows[0]?.n ?? 0;
    await until(async () => (await startedA()) >= 100, 20_000, 'group A to be under way');

    const b = await api.submitBatch(
      Array.from({ length: 10 }, () => ({ command: 'fair', queue, group: 'B' })),
    );
    const ids = b.map((t) => t.id);
    // The database's clock once the submit has returned: B's tasks are visible to claims.
    const { rows: now } = await db.pool.query<{ at: Date }>(`SELECT clock_timestamp() AS at`);
    const submitted = (now[0] as { at: Date }).at;
    await until(
      async () =>
        (
          await db.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${db.s}.tasks WHERE id = ANY ($1::uuid[]) AND status = 'succeeded'`,
            [ids],
          )
        ).rows[0]?.n === 10,
      20_000,
      "group B's tasks to finish",
    );
    const { rows } = await db.pool.query<{
      submitted: Date;
      first_start: Date;
      last_done: Date;
      a_between: number;
      a_left: number;
    }>(
      `WITH b AS (
           SELECT $3::timestamptz AS submitted, min(started_at) AS first_start,
                  max(completed_at) AS last_done
           FROM ${db.s}.tasks WHERE id = ANY ($2::uuid[]))
         SELECT b.*,
           (SELECT count(*)::int FROM ${db.s}.tasks t WHERE t.queue = $1 AND t.group_key = 'A'
              AND t.started_at > b.submitted AND t.started_at < b.first_start) AS a_between,
           (SELECT count(*)::int FROM ${db.s}.tasks t WHERE t.queue = $1 AND t.group_key = 'A'
              AND t.status = 'pending') AS a_left
         FROM b`,
      [queue, ids, submitted],
    );
    const r = rows[0] as (typeof rows)[number];
    const figures = {
      a_started_between_b_submit_and_b_first_start: r.a_between,
      b_first_start_ms: r.first_start.getTime() - r.submitted.getTime(),
      b_all_done_ms: r.last_done.getTime() - r.submitted.getTime(),
      a_still_pending: r.a_left,
    };
    process.stdout.write(`fair share: ${JSON.stringify(figures)}\n`);
    // One claim's worth: every slot of every worker.
    expect(r.a_between).toBeLessThanOrEqual(concurrency * workers);
    expect(r.a_left).toBeGreaterThan(backlog - 5000);
  }, 120_000);

  it('takes turns across groups in one claim, by weight, and rotates across claims', async () => {
    const queue = 'fair-weights';
    await insertTasks(db, [
      ...Array.from({ length: 20 }, () => task(queue, 'big')),
      ...Array.from({ length: 20 }, () => task(queue, 'gold')),
      ...Array.from({ length: 20 }, () => task(queue, null)),
      // Priority still orders within a group.
      task(queue, 'big', 5),
    ]);
    await updateQueue(db, queue, { groupWeights: { gold: 3 } });
    const claim = async (n: number) =>
      groupsOf(
        (
          await claimDue(db, {
            queue,
            handlers: null,
            slots: Array<string>(n).fill('w'),
            leaseMs: 60_000,
          })
        ).map((t) => t.id),
      );
    // Rounds of big 1, gold 3, no group 1, twice. (A claim's rows come back in no set
    // order, so each claim is compared as a set of groups.)
    const sorted = async (n: number) => (await claim(n)).sort();
    expect(await sorted(10)).toEqual([
      '',
      '',
      'big',
      'big',
      'gold',
      'gold',
      'gold',
      'gold',
      'gold',
      'gold',
    ]);
    // The next claims go on after the last group served: big and gold, then the lane of
    // tasks without a group, big and gold again.
    expect(await sorted(2)).toEqual(['big', 'gold']);
    expect(await sorted(3)).toEqual(['', 'big', 'gold']);
    const { rows } = await db.pool.query<{ status: string }>(
      `SELECT status FROM ${db.s}.tasks WHERE queue = $1 AND priority = 5`,
      [queue],
    );
    expect(rows[0]?.status).toBe('running');
  });

  it('takes group and rate_key from every submit path: REST batch, gRPC, workflows, taskq.submit()', async () => {
    const fields = async (id: string) =>
      (
        await db.pool.query<{ group_key: string; rate_key: string }>(
          `SELECT group_key, rate_key FROM ${db.s}.tasks WHERE id = $1`,
          [id],
        )
      ).rows[0];
    const want = { group_key: 'acme', rate_key: 'acct-7' };

    const [batch] = await api.submitBatch([
      { command: 'fair', queue: 'paths', group: 'acme', rate_key: 'acct-7' },
    ]);
    expect(await fields(batch?.id ?? '')).toEqual(want);

    const c = await inProcessCoordinator(db);
    const url = `http://127.0.0.1:${c.grpcPort}`;
    const sessions = new Http2SessionManager(url);
    try {
      const client = createClient(
        TaskService,
        createGrpcTransport({ baseUrl: url, sessionManager: sessions }),
      );
      const res = await client.submitTask({
        command: 'fair',
        queue: 'paths',
        group: 'acme',
        rateKey: 'acct-7',
      });
      expect(await fields(res.task?.id ?? '')).toEqual(want);
      const bad = await client
        .submitTask({ command: 'fair', group: 'g'.repeat(256) })
        .catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(ConnectError);
      expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
      expect((bad as ConnectError).message).toMatch(/group/);
    } finally {
      sessions.abort();
    }

    const { workflow } = await new WorkflowsApi(db).submit({
      tasks: [{ key: 'a', command: 'fair', queue: 'paths', group: 'acme', rate_key: 'acct-7' }],
    });
    expect(await fields(workflow.nodes?.[0]?.taskId ?? '')).toEqual(want);

    const { rows } = await db.pool.query<{ id: string }>(
      `SELECT ${db.s}.submit('fair', NULL, '{"queue": "paths", "group": "acme", "rate_key": "acct-7"}') AS id`,
    );
    expect(await fields(rows[0]?.id ?? '')).toEqual(want);
    await expect(
      db.pool.query(`SELECT ${db.s}.submit('fair', NULL, '{"group": 5}')`),
    ).rejects.toThrow(/group must be text of 1 to 255 characters/);
  });

  it('keeps the per-key concurrency limit together with groups', async () => {
    const queue = 'fair-keys';
    await updateQueue(db, queue, { keyConcurrencyLimit: 1 });
    await insertTasks(db, [
      ...Array.from({ length: 5 }, () => ({ ...task(queue, 'A'), concurrencyKey: 'x' })),
      ...Array.from({ length: 5 }, () => ({ ...task(queue, 'B'), concurrencyKey: 'y' })),
    ]);
    const claimed = await claimDue(db, {
      queue,
      handlers: null,
      slots: Array<string>(10).fill('w'),
      leaseMs: 60_000,
      limited: true,
    });
    expect((await groupsOf(claimed.map((t) => t.id))).sort()).toEqual(['A', 'B']);
  });
});
