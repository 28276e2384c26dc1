import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinator, startWorker } from '../helpers/cluster.js';
import { useSchema } from '../helpers/db.js';
import { restCall } from '../helpers/rest.js';
import { until } from '../helpers/wait.js';

/**
 * Cancelling the two workflow states over REST, against a coordinator and a worker that are
 * processes of their own: a `blocked` node (its dependents are cancelled and on_failure runs,
 * as when a node ends dead) and a `waiting` parent (its children that have not ended are
 * cancelled, a running one's handler aborted). Tasks that must stay put go to the queue
 * `cw-idle`, which no worker serves.
 */

const db = await useSchema();
const dir = mkdtempSync(join(tmpdir(), 'taskq-cancel-states-'));
let api = '';

const HANDLERS = join(dir, 'handlers.mjs');
writeFileSync(
  HANDLERS,
  `import { writeFileSync } from 'node:fs';
export default {
  /** The on_failure task: what it was told failed. */
  report: (_payload, ctx) => ({ failure: ctx.failure }),
  /** Spawns three children and waits for them; on its second run, returns their outcomes. */
  fan: (payload, ctx) => {
    if (ctx.children) return { children: ctx.children.map((c) => c.status) };
    return ctx.waitFor(
      ctx.spawn([
        { key: 'quick', command: 'stamp', queue: 'cw' },
        { key: 'parked', command: 'stamp', queue: 'cw-idle' },
        { key: 'busy', command: 'linger', queue: 'cw', payload: { marker: payload.marker } },
      ]),
    );
  },
  /** Runs until its signal aborts, then leaves a mark a test can see. */
  linger: (payload, ctx) =>
    new Promise((resolve) => {
      ctx.signal.addEventListener('abort', () => {
        writeFileSync(payload.marker, 'aborted');
        resolve(null);
      });
    }),
};
`,
);

beforeAll(async () => {
  const coordinator = await startCoordinator(db.schema, { scope: 'file' });
  api = `http://127.0.0.1:${coordinator.httpPort}`;
  await startWorker(db.schema, coordinator.grpcPort, {
    queue: 'cw',
    extra: ['--handlers', HANDLERS],
    scope: 'file',
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const call = (method: string, path: string, body?: object) => restCall(api, method, path, body);

interface Node {
  key: string | null;
  task_id: string;
  status: string;
  error: string | null;
  parent_task_id: string | null;
  on_failure: boolean;
}

async function workflow(id: string): Promise<{ status: string; tasks: Node[] }> {
  return (await call('GET', `/v1/workflows/${id}`)).body;
}

async function task(id: string): Promise<any> {
  return (await call('GET', `/v1/tasks/${id}`)).body;
}

/** The children a task spawned, by key. */
async function childrenOf(parentId: string): Promise<Map<string, { id: string; status: string }>> {
  const { rows } = await db.pool.query(
    `SELECT id, workflow_key AS key, status FROM ${db.s}.tasks WHERE parent_id = $1`,
    [parentId],
  );
  return new Map(rows.map((r) => [r.key as string, { id: r.id as string, status: r.status }]));
}

describe('cancelling a blocked workflow node', () => {
  it('cancels the node and what depends on it, runs on_failure, and leaves the rest alone', async () => {
    const submitted = await call('POST', '/v1/workflows', {
      tasks: [
        { key: 'gate', command: 'stamp', queue: 'cw-idle' },
        { key: 'blocked', command: 'stamp', queue: 'cw', depends_on: ['gate'] },
        { key: 'below', command: 'stamp', queue: 'cw', depends_on: ['blocked'] },
        { key: 'aside', command: 'stamp', queue: 'cw' },
      ],
      on_failure: { command: 'report', queue: 'cw' },
    });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id as string;
    const node = (w: { tasks: Node[] }, key: string): Node =>
      w.tasks.find((t) => t.key === key) as Node;
    const before = await workflow(id);
    expect(node(before, 'blocked').status).toBe('blocked');

    const cancelled = await call('POST', `/v1/tasks/${node(before, 'blocked').task_id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');

    // The failure policy, as for a node that ends dead: what is below it can never run, and
    // on_failure runs, told which node ended how.
    const onFailure = before.tasks.find((t) => t.on_failure) as Node;
    await until(
      async () => (await task(onFailure.task_id)).status === 'succeeded',
      20_000,
      'on_failure to run',
    );
    expect((await task(onFailure.task_id)).result).toEqual({
      failure: expect.objectContaining({ key: 'blocked', status: 'cancelled' }),
    });
    await until(async () => node(await workflow(id), 'aside').status === 'succeeded');
    const after = await workflow(id);
    expect(node(after, 'below')).toMatchObject({
      status: 'cancelled',
      error: 'not run: blocked ended cancelled',
    });
    // The node it waited for is untouched, and the workflow is still running on it.
    expect(node(after, 'gate').status).toBe('pending');
    expect(after.status).toBe('running');

    // Once the rest has ended, the workflow failed: one of its tasks was cancelled.
    expect((await call('POST', `/v1/tasks/${node(after, 'gate').task_id}/cancel`)).status).toBe(
      200,
    );
    expect((await workflow(id)).status).toBe('failed');
    // A second cancel of the blocked node is refused: it has ended.
    const again = await call('POST', `/v1/tasks/${node(before, 'blocked').task_id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/is already cancelled and cannot be cancelled/);
  });
});

describe('cancelling a waiting parent', () => {
  /** Submits `fan` and waits until it waits, its quick child has succeeded and its busy one runs. */
  async function waitingParent(marker: string) {
    const submitted = await call('POST', '/v1/tasks', {
      command: 'fan',
      queue: 'cw',
      payload: { marker },
    });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id as string;
    await until(
      async () => {
        const kids = await childrenOf(id);
        return (
          (await task(id)).status === 'waiting' &&
          kids.get('quick')?.status === 'succeeded' &&
          kids.get('busy')?.status === 'running'
        );
      },
      20_000,
      'the parent to wait, with one child done and one running',
    );
    return id;
  }

  it('cancels its children that have not ended, aborting the running one', async () => {
    const marker = join(dir, 'one.aborted');
    const id = await waitingParent(marker);
    expect((await childrenOf(id)).get('parked')?.status).toBe('pending');

    const cancelled = await call('POST', `/v1/tasks/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');

    const kids = await childrenOf(id);
    expect(kids.get('quick')?.status).toBe('succeeded');
    expect(kids.get('parked')?.status).toBe('cancelled');
    expect(kids.get('busy')?.status).toBe('cancelled');
    // The running child's handler got its AbortSignal, and its attempt is recorded as cancelled.
    await until(() => existsSync(marker), 10_000, 'the running child to be aborted');
    expect(readFileSync(marker, 'utf8')).toBe('aborted');
    const busy = await task(kids.get('busy')?.id as string);
    expect(busy.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['cancelled']);
    expect(busy.error).toBe('cancelled with the task that waited for it');

    // The last child's end does not wake the parent: it stays cancelled, never run again.
    await new Promise((r) => setTimeout(r, 1000));
    const parent = await task(id);
    expect(parent.status).toBe('cancelled');
    expect(parent.attempt).toBe(1);
  });

  it('does the same through a bulk cancel of the waiting tasks of a queue', async () => {
    const marker = join(dir, 'bulk.aborted');
    const id = await waitingParent(marker);
    const res = await call('POST', '/v1/tasks/bulk/cancel', { queue: 'cw', status: 'waiting' });
    expect(res.status).toBe(200);
    expect(res.body.changed_ids).toEqual([id]);
    const kids = await childrenOf(id);
    expect([...kids.values()].map((k) => k.status).sort()).toEqual([
      'cancelled',
      'cancelled',
      'succeeded',
    ]);
    await until(() => existsSync(marker), 10_000, 'the running child to be aborted');
  });
});
