import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinator, startScheduler, startWorker } from '../helpers/cluster.js';
import { useSchema } from '../helpers/db.js';
import { restCall } from '../helpers/rest.js';
import { until } from '../helpers/wait.js';

/**
 * Cron schedules that start workflows, as users run them: two schedulers (each with its cron
 * ticker), a coordinator and a worker, all processes of their own. A workflow schedule fires
 * on its cron, each tick exactly once although both schedulers tick, and every workflow runs
 * to the end on the worker; a trigger by hand starts one at once.
 */

const db = await useSchema();
const dir = mkdtempSync(join(tmpdir(), 'taskq-schedule-workflows-'));
const schedulers: string[] = [];
let api = '';

const HANDLERS = join(dir, 'handlers.mjs');
writeFileSync(
  HANDLERS,
  `export default {
  /** The keys of the parents whose results it was given. */
  join: (_payload, ctx) => ({ parents: Object.keys(ctx.parents ?? {}).sort() }),
};
`,
);

/** Two fetches in parallel, then a join that sees both their results. */
const WORKFLOW = {
  name: 'cron-etl',
  tasks: [
    { key: 'extract-a', command: 'stamp', queue: 'sw' },
    { key: 'extract-b', command: 'stamp', queue: 'sw' },
    { key: 'load', command: 'join', queue: 'sw', depends_on: ['extract-a', 'extract-b'] },
  ],
};

beforeAll(async () => {
  const coordinator = await startCoordinator(db.schema, { scope: 'file' });
  api = `http://127.0.0.1:${coordinator.httpPort}`;
  for (let i = 0; i < 2; i++)
    schedulers.push(`http://127.0.0.1:${(await startScheduler(db.schema, 'file')).httpPort}`);
  await startWorker(db.schema, coordinator.grpcPort, {
    queue: 'sw',
    extra: ['--handlers', HANDLERS],
    scope: 'file',
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const call = restCall;

interface WorkflowJson {
  id: string;
  name: string | null;
  status: string;
  idempotency_key: string | null;
  tasks: Array<{
    key: string;
    task_id: string;
    status: string;
    command: string;
    queue: string;
    depends_on: string[];
  }>;
}

const workflow = async (id: string): Promise<WorkflowJson> =>
  (await call(api, 'GET', `/v1/workflows/${id}`)).body;

/** The shape of a workflow's graph, without ids and states: what a submit of it stores. */
const graphOf = (w: WorkflowJson) =>
  w.tasks.map((t) => ({ key: t.key, command: t.command, queue: t.queue, deps: t.depends_on }));

describe('a schedule that starts a workflow', () => {
  it('fires on its cron, once a tick with two schedulers, and each workflow runs to the end', async () => {
    const created = await call(schedulers[0] as string, 'POST', '/v1/schedules', {
      name: 'etl-every-2s',
      cron: '*/2 * * * * *',
      workflow: WORKFLOW,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: 'workflow', command: null, queue: null });
    // The body as it was given, without defaults written in.
    expect(created.body.workflow).toEqual(WORKFLOW);
    const id = created.body.id as string;

    // Three ticks, from either scheduler.
    await until(
      async () => {
        const { rows } = await db.pool.query(
          `SELECT count(*)::int AS n FROM ${db.s}.schedule_runs WHERE schedule_id = $1`,
          [id],
        );
        return rows[0].n >= 3;
      },
      20_000,
      'three ticks of the schedule',
    );
    expect((await call(schedulers[1] as string, 'POST', `/v1/schedules/${id}/pause`)).status).toBe(
      200,
    );

    const { rows: runs } = await db.pool.query(
      `SELECT r.tick, r.task_id, r.workflow_id, w.idempotency_key
       FROM ${db.s}.schedule_runs r LEFT JOIN ${db.s}.workflows w ON w.id = r.workflow_id
       WHERE r.schedule_id = $1 ORDER BY r.tick`,
      [id],
    );
    // Each tick started one workflow, stored under the tick's key: none twice, none lost.
    for (const r of runs) {
      expect(r.task_id).toBeNull();
      expect(r.idempotency_key).toBe(`schedule:${id}:${r.tick.toISOString()}`);
      expect(r.tick.getUTCSeconds() % 2).toBe(0);
    }
    const { rows: started } = await db.pool.query(
      `SELECT count(*)::int AS n FROM ${db.s}.workflows WHERE idempotency_key LIKE $1`,
      [`schedule:${id}:%`],
    );
    expect(started[0].n).toBe(runs.length);
    expect(new Set(runs.map((r) => r.tick.getTime())).size).toBe(runs.length);

    // Every one runs to the end on the worker; the join saw both parents' results.
    for (const r of runs) {
      await until(
        async () => (await workflow(r.workflow_id)).status === 'succeeded',
        30_000,
        `workflow ${r.workflow_id} to succeed`,
      );
      const w = await workflow(r.workflow_id);
      expect(w.name).toBe('cron-etl');
      const load = w.tasks.find((t) => t.key === 'load');
      const result = (await call(api, 'GET', `/v1/tasks/${load?.task_id}`)).body.result;
      expect(result).toEqual({ parents: ['extract-a', 'extract-b'] });
    }

    // A workflow started by cron is the one a submit of the same body stores.
    const submitted = await call(api, 'POST', '/v1/workflows', WORKFLOW);
    expect(submitted.status).toBe(201);
    expect(graphOf(await workflow(runs[0].workflow_id))).toEqual(graphOf(submitted.body));

    // The schedule says what it last started, and lists its runs with their workflows.
    const s = (await call(api, 'GET', `/v1/schedules/${id}`)).body;
    const last = runs.at(-1);
    expect(s.last_workflow_id).toBe(last.workflow_id);
    expect(s.last_task_id).toBeNull();
    expect(Date.parse(s.last_run_at)).toBe(last.tick.getTime());
    expect(s.recent_runs[0]).toEqual({
      tick: last.tick.toISOString(),
      task_id: null,
      workflow_id: last.workflow_id,
      trigger: 'cron',
    });
  });

  it('starts its workflow at once when triggered by hand', async () => {
    const created = await call(schedulers[0] as string, 'POST', '/v1/schedules', {
      name: 'etl-yearly',
      cron: '0 0 1 1 *',
      workflow: WORKFLOW,
    });
    expect(created.status).toBe(201);
    const triggered = await call(
      schedulers[1] as string,
      'POST',
      '/v1/schedules/etl-yearly/trigger',
    );
    expect(triggered.status).toBe(201);
    expect(triggered.body).toMatchObject({ name: 'cron-etl', status: 'running' });
    expect(triggered.body.tasks.map((t: { key: string }) => t.key)).toEqual([
      'extract-a',
      'extract-b',
      'load',
    ]);
    const id = triggered.body.id as string;
    await until(async () => (await workflow(id)).status === 'succeeded', 30_000, 'the workflow');

    const s = (await call(api, 'GET', '/v1/schedules/etl-yearly')).body;
    expect(s.last_workflow_id).toBe(id);
    expect(s.recent_runs).toEqual([
      expect.objectContaining({ workflow_id: id, task_id: null, trigger: 'manual' }),
    ]);
    // The next cron run is as it was.
    expect(s.next_run_at).toBe(created.body.next_run_at);
  });
});
