import { describe, expect, it } from 'vitest';
import { startCoordinator, startWorker } from '../helpers/cluster.js';
import { useSchema } from '../helpers/db.js';
import { until } from '../helpers/wait.js';

/**
 * Workflows as users run them: two coordinators and two workers as separate processes. A
 * fan-in of 40 parents completes through both coordinators at once while one worker is killed
 * with SIGKILL mid-workflow.
 */
const db = await useSchema();

describe('a workflow across processes', () => {
  it('survives a worker killed mid-run: nothing lost, no result accepted twice, the join released once', async () => {
    const c1 = await startCoordinator(db.schema, { name: 'coordinator-1' });
    const c2 = await startCoordinator(db.schema, { name: 'coordinator-2' });
    const victim = await startWorker(db.schema, c1.grpcPort, {
      queue: 'wf-e2e',
      name: 'victim',
      concurrency: 8,
    });
    const survivor = await startWorker(db.schema, c2.grpcPort, {
      queue: 'wf-e2e,wf-join',
      name: 'survivor',
      concurrency: 8,
    });
    const middle = Array.from({ length: 40 }, (_, i) => ({
      key: `m${i}`,
      command: 'hold',
      queue: 'wf-e2e',
      // Long enough that what the victim holds when it is seen is still running when the
      // kill lands, on a busy machine.
      payload: { ms: 1500 },
      depends_on: ['root'],
    }));
    const res = await fetch(`http://127.0.0.1:${c1.httpPort}/v1/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        tasks: [
          { key: 'root', command: 'stamp', queue: 'wf-e2e' },
          ...middle,
          { key: 'join', command: 'stamp', queue: 'wf-join', depends_on: middle.map((m) => m.key) },
        ],
      }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };

    // Kill the first worker while it holds some of the middle tasks.
    const held = async (): Promise<string[]> =>
      (
        await db.pool.query<{ id: string }>(
          // The middle tasks only: the root is quick, and may end between the look and the kill.
          `SELECT id FROM ${db.s}.tasks
           WHERE workflow_id = $1 AND workflow_key <> 'root' AND status = 'running' AND worker_id = $2`,
          [id, victim.workerId],
        )
      ).rows.map((r) => r.id);
    await until(async () => (await held()).length > 0);
    const seen = await held();
    victim.proc.signal('SIGKILL');
    await victim.proc.exited;

    const workflow = async () =>
      (await (await fetch(`http://127.0.0.1:${c2.httpPort}/v1/workflows/${id}`)).json()) as {
        status: string;
        tasks: Array<{ key: string; status: string; task_id: string; attempt: number }>;
      };
    await until(
      async () => (await workflow()).status === 'succeeded',
      60_000,
      'the workflow to succeed',
    );
    const w = await workflow();
    expect(w.tasks).toHaveLength(42);
    expect(w.tasks.every((t) => t.status === 'succeeded')).toBe(true);

    // Every node's result was accepted exactly once, whatever ran twice.
    const { rows: accepted } = await db.pool.query(
      `SELECT t.workflow_key AS key, count(*) FILTER (WHERE a.outcome = 'succeeded')::int AS ok
       FROM ${db.s}.tasks t JOIN ${db.s}.task_attempts a ON a.task_id = t.id
       WHERE t.workflow_id = $1 GROUP BY t.workflow_key`,
      [id],
    );
    expect(accepted).toHaveLength(42);
    expect(accepted.every((r) => r.ok === 1)).toBe(true);
    // What the victim held and never finished (what was seen, less any whose result it sent
    // before the kill was accepted) ran again, on the worker that lived.
    const { rows: finished } = await db.pool.query<{ id: string }>(
      `SELECT task_id AS id FROM ${db.s}.task_attempts
       WHERE task_id = ANY ($1::uuid[]) AND worker_id = $2 AND outcome = 'succeeded'`,
      [seen, victim.workerId],
    );
    const orphans = seen.filter((t) => !finished.some((f) => f.id === t));
    expect(orphans.length, 'the victim held unfinished tasks when it died').toBeGreaterThan(0);
    const { rows: rerun } = await db.pool.query<{ worker_id: string }>(
      `SELECT worker_id FROM ${db.s}.tasks WHERE id = ANY ($1::uuid[])`,
      [orphans],
    );
    expect(rerun.map((r) => r.worker_id)).toEqual(orphans.map(() => survivor.workerId));
    // The join, whose 40 parents finished through two coordinators, was released and claimed
    // once, on the worker that lived.
    const join = w.tasks.find((t) => t.key === 'join');
    expect(join?.attempt).toBe(1);
    const { rows: joinRow } = await db.pool.query(
      `SELECT worker_id, result FROM ${db.s}.tasks WHERE id = $1`,
      [join?.task_id],
    );
    expect(joinRow[0].worker_id).toBe(survivor.workerId);
  });
});
