import { describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';
import { until } from '../helpers/wait.js';
import { readSse } from '../helpers/sse.js';
import { TasksApi } from '../../src/api/services/tasks.js';
import { packCompletions } from '../../src/lib/packed.js';
import { RawWorker } from '../security/raw-worker.js';

const db = await useSchema();

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

type Node = { key: string; status: string; task_id: string; error: string | null };

describe('workflows', () => {
  it('runs a diamond in order: D starts only after B and C succeeded', async () => {
    const c = await inProcessCoordinator(db);
    const base = `http://127.0.0.1:${c.httpPort}`;
    const log: string[] = [];
    const seen: Record<string, unknown> = {};
    await inProcessWorker(c, { queues: ['wf'], concurrency: 4 }, (w) =>
      w.handle('step', async (_p, ctx) => {
        const step = ctx.args[0] as string;
        log.push(`start ${step}`);
        seen[step] = ctx.parents;
        await new Promise((r) => setTimeout(r, step === 'b' ? 300 : 50));
        log.push(`end ${step}`);
        return { step, from: Object.keys(ctx.parents).sort() };
      }),
    );
    const submitted = await call(base, 'POST', '/v1/workflows', {
      name: 'diamond',
      tasks: [
        { key: 'a', command: 'step a', queue: 'wf' },
        { key: 'b', command: 'step b', queue: 'wf', depends_on: ['a'] },
        { key: 'c', command: 'step c', queue: 'wf', depends_on: ['a'] },
        { key: 'd', command: 'step d', queue: 'wf', depends_on: ['b', 'c'] },
      ],
    });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id as string;
    const byKey = (nodes: Node[]) => Object.fromEntries(nodes.map((n) => [n.key, n.status]));
    expect(byKey(submitted.body.tasks)).toMatchObject({
      // a may already be claimed by the time the answer is read.
      a: expect.stringMatching(/^(pending|running|succeeded)$/),
      b: 'blocked',
      c: 'blocked',
      d: 'blocked',
    });
    await until(
      async () => (await call(base, 'GET', `/v1/workflows/${id}`)).body.status === 'succeeded',
    );
    const done = await call(base, 'GET', `/v1/workflows/${id}`);
    expect(byKey(done.body.tasks)).toEqual({
      a: 'succeeded',
      b: 'succeeded',
      c: 'succeeded',
      d: 'succeeded',
    });
    expect(log.indexOf('start b')).toBeGreaterThan(log.indexOf('end a'));
    expect(log.indexOf('start c')).toBeGreaterThan(log.indexOf('end a'));
    expect(log.indexOf('start d')).toBeGreaterThan(log.indexOf('end b'));
    expect(log.indexOf('start d')).toBeGreaterThan(log.indexOf('end c'));
    expect(done.body.tasks.find((n: Node) => n.key === 'd').depends_on).toEqual(['b', 'c']);
    // Each task sees its parents' results, by key.
    expect(seen.a).toEqual({});
    expect(seen.b).toEqual({ a: { step: 'a', from: [] } });
    expect(seen.d).toEqual({ b: { step: 'b', from: ['a'] }, c: { step: 'c', from: ['a'] } });
  });

  it('refuses a graph with an unknown key, a cycle or a repeated key, naming the field', async () => {
    const c = await inProcessCoordinator(db);
    const base = `http://127.0.0.1:${c.httpPort}`;
    const cases: Array<[unknown[], RegExp, string]> = [
      [
        [{ key: 'a', command: 'x', depends_on: ['nope'] }],
        /no task has the key "nope"/,
        'tasks.0.depends_on.0',
      ],
      [
        [
          { key: 'a', command: 'x', depends_on: ['b'] },
          { key: 'b', command: 'x', depends_on: ['a'] },
        ],
        /cycle/,
        'tasks.0.depends_on',
      ],
      [
        [
          { key: 'a', command: 'x' },
          { key: 'a', command: 'y' },
        ],
        /used by an earlier task/,
        'tasks.1.key',
      ],
      [[{ key: 'a', command: 'x', depends_on: ['a'] }], /itself/, 'tasks.0.depends_on.0'],
      [[{ key: '$x', command: 'x' }], /key/, 'tasks.0.key'],
    ];
    const before = await db.pool.query(`SELECT count(*)::int AS n FROM ${db.s}.tasks`);
    for (const [tasks, message, field] of cases) {
      const r = await call(base, 'POST', '/v1/workflows', { tasks });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.message).toMatch(message);
      expect(r.body.error.field).toBe(field);
    }
    const after = await db.pool.query(`SELECT count(*)::int AS n FROM ${db.s}.tasks`);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('a dead middle task cancels the tasks below it and runs on_failure with the error', async () => {
    const c = await inProcessCoordinator(db);
    const base = `http://127.0.0.1:${c.httpPort}`;
    let failure: unknown;
    await inProcessWorker(c, { queues: ['wf-fail'], concurrency: 4 }, (w) => {
      w.handle('ok', () => ({ ok: true }));
      w.handle('boom', () => {
        throw new Error('middle broke');
      });
      w.handle('alert', (_p, ctx) => {
        failure = ctx.failure;
        return { alerted: true };
      });
    });
    const r = await call(base, 'POST', '/v1/workflows', {
      tasks: [
        { key: 'top', command: 'ok', queue: 'wf-fail' },
        { key: 'middle', command: 'boom', queue: 'wf-fail', depends_on: ['top'], max_attempts: 1 },
        { key: 'side', command: 'ok', queue: 'wf-fail', depends_on: ['top'] },
        { key: 'below', command: 'ok', queue: 'wf-fail', depends_on: ['middle'] },
        { key: 'bottom', command: 'ok', queue: 'wf-fail', depends_on: ['below', 'side'] },
      ],
      on_failure: { command: 'alert', queue: 'wf-fail' },
    });
    const id = r.body.id as string;
    await until(async () => {
      const w = (await call(base, 'GET', `/v1/workflows/${id}`)).body;
      return w.status === 'failed';
    });
    await until(() => failure !== undefined);
    const w = (await call(base, 'GET', `/v1/workflows/${id}`)).body;
    const status = Object.fromEntries(w.tasks.map((n: Node) => [n.key, n.status]));
    expect(status).toEqual({
      top: 'succeeded',
      middle: 'dead',
      side: 'succeeded',
      below: 'cancelled',
      bottom: 'cancelled',
      $on_failure: expect.stringMatching(/running|succeeded/),
    });
    expect(w.tasks.find((n: Node) => n.key === 'below').error).toMatch(/middle ended dead/);
    expect(failure).toMatchObject({ key: 'middle', status: 'dead', error: 'middle broke' });
  });

  it('cancelling a workflow cancels what has not ended, and on_failure does not run', async () => {
    const c = await inProcessCoordinator(db);
    const base = `http://127.0.0.1:${c.httpPort}`;
    const r = await call(base, 'POST', '/v1/workflows', {
      idempotency_key: 'cancel-me',
      tasks: [
        { key: 'a', command: 'nobody-serves', queue: 'wf-none' },
        { key: 'b', command: 'nobody-serves', queue: 'wf-none', depends_on: ['a'] },
      ],
      on_failure: { command: 'nobody-serves', queue: 'wf-none' },
    });
    const again = await call(base, 'POST', '/v1/workflows', {
      idempotency_key: 'cancel-me',
      tasks: [{ key: 'z', command: 'other' }],
    });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(r.body.id);
    const cancelled = await call(base, 'POST', `/v1/workflows/${r.body.id}/cancel`);
    expect(cancelled.body.status).toBe('cancelled');
    expect(cancelled.body.tasks.map((n: Node) => n.status)).toEqual([
      'cancelled',
      'cancelled',
      'cancelled',
    ]);
  });
});

describe('live', () => {
  it('streams the graph over SSE as its tasks change, spawned children included, and ends with it', async () => {
    const c = await inProcessCoordinator(db);
    const base = `http://127.0.0.1:${c.httpPort}`;
    await inProcessWorker<{ fan: { n: number } }>(
      c,
      { queues: ['wf-live'], concurrency: 4 },
      (w) => {
        w.handle('fan', (p, ctx) =>
          ctx.children
            ? { children: ctx.children.length }
            : ctx.waitFor(
                Array.from({ length: p.n }, (_, i) => ({
                  // Long enough that the stream surely sees the parent waiting.
                  command: 'sleep 400',
                  queue: 'wf-live',
                  key: `kid${i}`,
                })),
              ),
        );
      },
    );
    const r = await call(base, 'POST', '/v1/workflows', {
      tasks: [
        {
          key: 'first',
          command: 'echo hi',
          queue: 'wf-live',
          run_at: new Date(Date.now() + 1000).toISOString(),
        },
        { key: 'fan', command: 'fan', queue: 'wf-live', payload: { n: 3 }, depends_on: ['first'] },
      ],
    });
    const { events } = await readSse(`${base}/v1/workflows/${r.body.id}/events`, () => false, {
      timeoutMs: 30_000,
    });
    const graphs = events.filter((e) => e.event === 'workflow').map((e) => e.data);
    expect(graphs[0].status).toBe('running');
    const last = graphs.at(-1);
    expect(last.status).toBe('succeeded');
    expect(last.tasks.map((t: Node) => t.key).sort()).toEqual([
      'fan',
      'first',
      'kid0',
      'kid1',
      'kid2',
    ]);
    // It was seen waiting for its children on the way.
    expect(
      graphs.some((g) => g.tasks.some((t: Node) => t.key === 'fan' && t.status === 'waiting')),
    ).toBe(true);
  });
});

describe('children from inside a handler', () => {
  it('a parent fans out to 1,000 children without a slot, and resumes once with every result', async () => {
    const c = await inProcessCoordinator(db);
    let firstRuns = 0;
    let resumes = 0;
    let seenChildren: number | undefined;
    await inProcessWorker<{ square: { n: number }; sum: { count: number } }>(
      c,
      { queues: ['fan'], concurrency: 8 },
      (w) => {
        w.handle('square', (p) => ({ n: p.n * p.n }));
        w.handle('sum', (p, ctx) => {
          if (ctx.children) {
            resumes++;
            seenChildren = ctx.children.length;
            const failed = ctx.children.filter((ch) => ch.status !== 'succeeded');
            if (failed.length > 0) throw new Error(`${failed.length} children failed`);
            return { total: ctx.children.reduce((t, ch) => t + (ch.result as { n: number }).n, 0) };
          }
          firstRuns++;
          const children = ctx.spawn(
            Array.from({ length: p.count }, (_, i) => ({
              command: 'square',
              queue: 'fan',
              payload: { n: i + 1 },
            })),
          );
          return ctx.waitFor(children);
        });
      },
    );
    const api = new TasksApi(db);
    const { task } = await api.submit({ command: 'sum', queue: 'fan', payload: { count: 1000 } });
    await until(async () => (await api.get(task.id)).task.status === 'succeeded', 120_000);
    const done = await api.get(task.id);
    // 1^2 + … + 1000^2
    expect(done.task.result).toEqual({ total: (1000 * 1001 * 2001) / 6 });
    expect(firstRuns).toBe(1);
    expect(resumes).toBe(1);
    expect(seenChildren).toBe(1000);
    expect(done.attempts.map((a) => a.outcome)).toEqual(['waiting', 'succeeded']);
    // Waiting used no attempt: the default 3 are all still there for the second run.
    expect(done.task.maxAttempts).toBe(4);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM ${db.s}.tasks WHERE parent_id = $1 AND status = 'succeeded'`,
      [task.id],
    );
    expect(rows[0].n).toBe(1000);
  });

  it('a stale attempt of the parent spawns nothing', async () => {
    const c = await inProcessCoordinator(db, { leaseMs: 1000, heartbeatMs: 400 });
    const api = new TasksApi(db);
    const { task } = await api.submit({ command: 'spawner', queue: 'stale-spawn' });
    // A worker that claims the task, then goes silent past its lease: the task is reaped and
    // runs again elsewhere; the first attempt's late waitFor must not spawn its children.
    const forger = new RawWorker(c.grpcPort);
    forger.hello('stale-spawner', { handlers: ['spawner'], queues: ['stale-spawn'], credits: 1 });
    const assigned = await forger.waitFor((m) => (m.assigned?.taskId.length ?? 0) > 0);
    const ref = {
      taskId: assigned?.assigned?.taskId[0] ?? '',
      attempt: assigned?.assigned?.attempt[0] ?? 0,
    };
    expect(ref.taskId).toBe(task.id);
    await until(async () => (await api.get(task.id)).task.status !== 'running', 20_000);
    forger.send({
      completed: packCompletions([
        {
          ...ref,
          ok: true,
          waitForChildren: true,
          childrenJson: JSON.stringify([{ command: 'echo child', queue: 'stale-spawn' }]),
          executor: 'handler',
        },
      ]),
    });
    const ack = await forger.waitFor((m) => m.refused !== undefined);
    expect(ack?.refused?.taskId).toEqual([task.id]);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM ${db.s}.tasks WHERE parent_id = $1 OR command = 'echo child'`,
      [task.id],
    );
    expect(rows[0].n).toBe(0);
  });
});
