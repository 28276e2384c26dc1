import { beforeAll, describe, expect, it } from 'vitest';
import {
  ApiError,
  TaskQueueClient,
  type Workflow,
  type WorkflowTask,
} from '../../src/client/index.js';
import type { Coordinator } from '../../src/coordinator/index.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';

/**
 * The client SDK's workflow calls (`submitWorkflow`, `getWorkflow`, `listWorkflows`,
 * `cancelWorkflow`, `watchWorkflow`) against a real coordinator and a real worker.
 */

const db = await useSchema();
let coordinator: Coordinator;
let tq: TaskQueueClient;

beforeAll(async () => {
  coordinator = await inProcessCoordinator(db, { scope: 'file' });
  tq = new TaskQueueClient({ baseUrl: `http://127.0.0.1:${coordinator.httpPort}` });
});

const statuses = (w: Workflow): Record<string, string> =>
  Object.fromEntries((w.tasks ?? []).map((t) => [t.key ?? t.task_id, t.status]));

/** Every graph a watch yields, and the workflow it ends with. */
async function watchAll(
  id: string,
  onGraph: (w: Workflow) => Promise<void> | void = () => undefined,
): Promise<{ graphs: Workflow[]; last: Workflow }> {
  const graphs: Workflow[] = [];
  const watch = tq.watchWorkflow(id, { signal: AbortSignal.timeout(30_000) });
  for (;;) {
    const step = await watch.next();
    if (step.done) return { graphs, last: step.value };
    graphs.push(step.value);
    await onGraph(step.value);
  }
}

describe('a workflow from submit to the end', () => {
  it('submits a diamond, watches it from blocked to succeeded, and reads the graph back', async () => {
    await inProcessWorker(coordinator, { queues: ['sdk-wf'], concurrency: 4 }, (w) =>
      w.handle('step', (_p, ctx) => ({ step: ctx.args[0], parents: Object.keys(ctx.parents) })),
    );
    const submitted = await tq.submitWorkflow({
      name: 'sdk diamond',
      idempotency_key: 'sdk-diamond',
      tasks: [
        // A Date goes out as RFC 3339; a second's delay lets the watch see the graph blocked.
        { key: 'a', command: 'step a', queue: 'sdk-wf', run_at: new Date(Date.now() + 1000) },
        { key: 'b', command: 'step b', queue: 'sdk-wf', depends_on: ['a'] },
        { key: 'c', command: 'step c', queue: 'sdk-wf', depends_on: ['a'] },
        { key: 'd', command: 'step d', queue: 'sdk-wf', depends_on: ['b', 'c'] },
      ],
      on_failure: { command: 'step alert', queue: 'sdk-wf' },
    });
    expect(submitted).toMatchObject({ name: 'sdk diamond', status: 'running' });
    expect(statuses(submitted)).toEqual({
      a: 'pending',
      b: 'blocked',
      c: 'blocked',
      d: 'blocked',
      $on_failure: 'blocked',
    });
    // The on_failure task is not counted.
    expect(submitted.counts).toEqual({ pending: 1, blocked: 3 });

    const { graphs, last } = await watchAll(submitted.id);
    expect(statuses(graphs[0]!)).toMatchObject({ a: 'pending', d: 'blocked' });
    expect(last.status).toBe('succeeded');
    expect(graphs.at(-1)).toEqual(last);
    // d was seen blocked, then succeeded; never the other way round.
    const dSeen = graphs.map((g) => statuses(g).d);
    expect(dSeen.indexOf('succeeded')).toBeGreaterThan(dSeen.lastIndexOf('blocked'));

    const read = await tq.getWorkflow(submitted.id);
    expect(statuses(read)).toEqual({
      a: 'succeeded',
      b: 'succeeded',
      c: 'succeeded',
      d: 'succeeded',
      // Not needed once every task has succeeded.
      $on_failure: 'cancelled',
    });
    const node = (key: string): WorkflowTask => read.tasks!.find((t) => t.key === key)!;
    expect(node('d')).toMatchObject({
      depends_on: ['b', 'c'],
      command: 'step d',
      queue: 'sdk-wf',
      attempt: 1,
      parent_task_id: null,
      on_failure: false,
    });
    expect(node('$on_failure').on_failure).toBe(true);
    expect(Date.parse(read.created_at)).toBeLessThanOrEqual(Date.now());
    // The nodes are ordinary tasks: the task API knows them, with their parents' results.
    expect((await tq.get(node('d').task_id)).result).toEqual({
      step: 'd',
      parents: ['b', 'c'],
    });

    // The same idempotency key returns the workflow as it is now, and stores nothing.
    const again = await tq.submitWorkflow({
      idempotency_key: 'sdk-diamond',
      tasks: [{ key: 'other', command: 'step other', queue: 'sdk-wf' }],
    });
    expect(again.id).toBe(submitted.id);
    expect(again.tasks).toHaveLength(5);
  });

  it('shows children a handler spawned, under the task that waits for them', async () => {
    await inProcessWorker<{ fan: { n: number }; nap: unknown }>(
      coordinator,
      { queues: ['sdk-fan'], concurrency: 4 },
      (w) => {
        w.handle('fan', (p, ctx) => {
          if (ctx.children) return { children: ctx.children.length };
          for (let i = 0; i < p.n; i++)
            ctx.spawn([{ command: 'nap', queue: 'sdk-fan', key: `kid${i}` }]);
          // Waits for every child this attempt spawned.
          return ctx.waitFor();
        });
        // Long enough for the stream to show the parent waiting, however busy the machine.
        w.handle('nap', () => new Promise((r) => setTimeout(() => r({ napped: true }), 300)));
      },
    );
    const wf = await tq.submitWorkflow({
      tasks: [{ key: 'fan', command: 'fan', queue: 'sdk-fan', payload: { n: 3 } }],
    });
    expect(wf.name).toBeNull();
    const { graphs, last } = await watchAll(wf.id);
    expect(last.status).toBe('succeeded');
    expect(graphs.some((g) => statuses(g).fan === 'waiting')).toBe(true);
    const parent = last.tasks!.find((t) => t.key === 'fan')!;
    const kids = last.tasks!.filter((t) => t.parent_task_id === parent.task_id);
    expect(kids.map((k) => k.key).sort()).toEqual(['kid0', 'kid1', 'kid2']);
    expect(kids.every((k) => k.status === 'succeeded' && k.depends_on.length === 0)).toBe(true);
    expect(last.counts).toEqual({ succeeded: 4 });
  });
});

describe('listing and cancelling', () => {
  it('lists workflows newest first, page by page, with their counts', async () => {
    const ids: string[] = [];
    for (const name of ['list one', 'list two', 'list three']) {
      const wf = await tq.submitWorkflow({
        name,
        tasks: [
          { key: 'a', command: 'nobody-serves', queue: 'sdk-none' },
          { key: 'b', command: 'nobody-serves', queue: 'sdk-none', depends_on: ['a'] },
        ],
      });
      ids.push(wf.id);
    }
    const first = await tq.listWorkflows({ limit: 2 });
    expect(first.items.map((w) => w.name)).toEqual(['list three', 'list two']);
    expect(first.items[0]).toMatchObject({ status: 'running', counts: { pending: 1, blocked: 1 } });
    // A list item carries counts, not the graph.
    expect(first.items[0]!.tasks).toBeUndefined();
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await tq.listWorkflows({ limit: 2, cursor: first.next_cursor! });
    expect(second.items[0]!.id).toBe(ids[0]);
    const everything = await tq.listWorkflows();
    expect(everything.items.slice(0, 3).map((w) => w.id)).toEqual([...ids].reverse());
  });

  it('cancels a workflow: the running handler is aborted, the rest cancelled, on_failure never runs', async () => {
    let aborted: unknown;
    await inProcessWorker(coordinator, { queues: ['sdk-cancel'], concurrency: 2 }, (w) => {
      w.handle(
        'block',
        (_p, ctx) =>
          new Promise((resolve) =>
            ctx.signal.addEventListener('abort', () => {
              aborted = ctx.signal.reason;
              resolve({ aborted: true });
            }),
          ),
      );
      w.handle('alert', () => ({ alerted: true }));
    });
    const wf = await tq.submitWorkflow({
      name: 'to cancel',
      tasks: [
        { key: 'a', command: 'block', queue: 'sdk-cancel' },
        { key: 'b', command: 'block', queue: 'sdk-cancel', depends_on: ['a'] },
      ],
      on_failure: { command: 'alert', queue: 'sdk-cancel' },
    });
    let cancelled: Workflow | undefined;
    const { last } = await watchAll(wf.id, async (g) => {
      if (!cancelled && statuses(g).a === 'running') cancelled = await tq.cancelWorkflow(wf.id);
    });
    expect(cancelled?.status).toBe('cancelled');
    expect(last.status).toBe('cancelled');
    expect(last.cancelled_at).not.toBeNull();
    expect(statuses(last)).toEqual({ a: 'cancelled', b: 'cancelled', $on_failure: 'cancelled' });
    expect(last.tasks!.find((t) => t.on_failure)!.attempt).toBe(0);
    await expect.poll(() => aborted, { timeout: 10_000 }).toBeDefined();
    // A watch of a workflow that has ended yields it once and ends.
    const after = await watchAll(wf.id);
    expect(after.graphs).toHaveLength(1);
    expect(after.last.status).toBe('cancelled');
  });
});

describe('errors', () => {
  it('names the field of a bad graph, and answers 404 for an unknown workflow everywhere', async () => {
    const cycle = tq.submitWorkflow({
      tasks: [
        { key: 'a', command: 'x', depends_on: ['b'] },
        { key: 'b', command: 'x', depends_on: ['a'] },
      ],
    });
    await expect(cycle).rejects.toBeInstanceOf(ApiError);
    await expect(cycle).rejects.toMatchObject({ status: 400, field: 'tasks.0.depends_on' });
    const unknown = '01900000-0000-7000-8000-000000000099';
    const notFound = { status: 404, code: expect.any(String) };
    await expect(tq.getWorkflow(unknown)).rejects.toMatchObject(notFound);
    await expect(tq.cancelWorkflow(unknown)).rejects.toMatchObject(notFound);
    await expect(tq.watchWorkflow(unknown).next()).rejects.toMatchObject(notFound);
  });

  it('stops a watch when its signal aborts', async () => {
    const wf = await tq.submitWorkflow({
      tasks: [{ key: 'idle', command: 'nobody-serves', queue: 'sdk-none' }],
    });
    const stop = new AbortController();
    const watch = tq.watchWorkflow(wf.id, { signal: stop.signal });
    expect((await watch.next()).value).toMatchObject({ id: wf.id, status: 'running' });
    const pending = watch.next();
    stop.abort(new Error('enough'));
    await expect(pending).rejects.toThrow('enough');
  });
});
