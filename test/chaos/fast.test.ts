import { beforeAll, describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { Api, Audit, WorkerPool, chaosCoordinator, createSideEffectLog } from './harness.js';
import { percentile, recordFigure } from './figures.js';

/**
 * The fast chaos scenarios (1, 2, 3 and 7 of the reliability issue). They run in CI with
 * the production timings: heartbeat 1 s, lease 5 s, reaper every 1 s.
 */

const db = await useSchema();
const audit = new Audit(db);

beforeAll(async () => {
  await createSideEffectLog(db);
});

describe('chaos (fast)', () => {
  it('1. kill -9 of a worker mid-task: nothing lost, re-dispatched within seconds', async () => {
    const c = await chaosCoordinator(db.schema);
    const api = new Api(`http://127.0.0.1:${c.httpPort}`);
    const pool = new WorkerPool(db.schema, [c.grpcPort], { keepAlive: true });
    await pool.start(2);
    const delays: number[] = [];
    const ids: string[] = [];
    for (let trial = 0; trial < 3; trial++) {
      const { id } = await api.submit({
        command: 'effect',
        payload: { ms: 60_000, retryMs: 10 },
        max_attempts: 5,
      });
      ids.push(id);
      const first = await audit.waitForEffect(id, 1);
      const victim = pool.byPid(first.pid);
      expect(victim).toBeDefined();
      const killedAt = Date.now();
      victim?.proc.signal('SIGKILL');
      const second = await audit.waitForEffect(id, 2);
      delays.push(second.at_ms - killedAt);
      expect(second.pid).not.toBe(first.pid);
    }
    await audit.waitAllFinished(ids);
    const l = await audit.losses(ids);
    expect(l).toMatchObject({ lost: 0, effectiveDuplicates: 0 });
    for (const d of delays) expect(d).toBeLessThan(10_000);
    recordFigure('1. kill -9 worker', 'lost tasks', l.lost);
    recordFigure('1. kill -9 worker', 're-dispatch delay p50', percentile(delays, 50), 'ms');
    recordFigure('1. kill -9 worker', 're-dispatch delay max', Math.max(...delays), 'ms');
  });

  it('2. SIGTERM during a task longer than the lease: it finishes on the same worker, attempt 1', async () => {
    const c = await chaosCoordinator(db.schema);
    const api = new Api(`http://127.0.0.1:${c.httpPort}`);
    const pool = new WorkerPool(db.schema, [c.grpcPort]);
    const [w] = await pool.start(1);
    const { id } = await api.submit({ command: 'effect', payload: { ms: 6500 } });
    await audit.waitForEffect(id, 1);
    const termAt = Date.now();
    w?.proc.signal('SIGTERM');
    await w?.proc.exited;
    expect(w?.proc.exitCode).toBe(0);
    expect(await audit.task(id)).toMatchObject({
      status: 'succeeded',
      attempt: 1,
      worker_id: w?.workerId,
    });
    expect(await audit.effects(id)).toHaveLength(1);
    recordFigure('2. SIGTERM worker, task > lease', 'attempts used', 1);
    recordFigure('2. SIGTERM worker, task > lease', 'drain time', Date.now() - termAt, 'ms');
  });

  it('3. SIGSTOP a worker past its lease, then SIGCONT: its late result is rejected', async () => {
    const c = await chaosCoordinator(db.schema);
    const api = new Api(`http://127.0.0.1:${c.httpPort}`);
    const pool = new WorkerPool(db.schema, [c.grpcPort]);
    const [a] = await pool.start(1);
    const { id } = await api.submit({ command: 'effect', payload: { ms: 1500 } });
    await audit.waitForEffect(id, 1);
    const stoppedAt = Date.now();
    a?.proc.signal('SIGSTOP');
    const [b] = await pool.start(1);
    const second = await audit.waitForEffect(id, 2);
    expect(second.pid).toBe(b?.pid);
    await audit.waitAllFinished([id]);
    const redispatch = second.at_ms - stoppedAt;
    a?.proc.signal('SIGCONT');
    await c.proc.waitForLog(
      (l) =>
        l.msg ===
          'result refused: the attempt is no longer current, or this worker does not hold it' &&
        l.taskId === id,
    );
    expect(await audit.task(id)).toMatchObject({
      status: 'succeeded',
      attempt: 2,
      worker_id: b?.workerId,
    });
    expect((await audit.task(id)).result.pid).toBe(b?.pid);
    const attempts = await audit.attempts(id);
    expect(attempts.map((x) => [x.attempt, x.outcome])).toEqual([
      [1, 'lease_expired'],
      [2, 'succeeded'],
    ]);
    const l = await audit.losses([id]);
    expect(l.effectiveDuplicates).toBe(0);
    recordFigure('3. SIGSTOP worker past lease', 'stale results accepted', l.effectiveDuplicates);
    recordFigure('3. SIGSTOP worker past lease', 're-dispatch after SIGSTOP', redispatch, 'ms');
  });

  it('7. a poison task that crashes its worker ends dead after max_attempts; others keep flowing', async () => {
    const c = await chaosCoordinator(db.schema);
    const api = new Api(`http://127.0.0.1:${c.httpPort}`);
    const pool = new WorkerPool(db.schema, [c.grpcPort], { keepAlive: true });
    await pool.start(2);
    const started = Date.now();
    const poison = await api.submit({ command: 'crash', max_attempts: 3 });
    const others = await api.submitBatch(
      Array.from({ length: 40 }, () => ({ command: 'effect', payload: { ms: 20 } })),
    );
    await audit.waitAllFinished([poison.id, ...others], 90_000);
    const p = await audit.task(poison.id);
    expect(p.status).toBe('dead');
    // It ran (and crashed its worker) exactly max_attempts times. A claim released because its
    // worker vanished mid-claim never runs and does not count, so `attempt` may read higher.
    expect((await audit.effects(poison.id)).length).toBe(3);
    expect((await audit.attempts(poison.id)).map((x) => x.outcome)).toEqual([
      'lease_expired',
      'lease_expired',
      'lease_expired',
    ]);
    const l = await audit.losses(others);
    expect(l.lost).toBe(0);
    recordFigure(
      '7. poison task',
      'executions before dead',
      (await audit.effects(poison.id)).length,
    );
    recordFigure('7. poison task', 'time to dead', Date.now() - started, 'ms');
    recordFigure('7. poison task', 'other tasks lost', l.lost);
    recordFigure('7. poison task', 'worker crashes', pool.restarts.length);
  });

  it('9. a workflow under worker kills: nothing lost, no node accepted twice, the join after every parent', async () => {
    const c = await chaosCoordinator(db.schema);
    const api = new Api(`http://127.0.0.1:${c.httpPort}`);
    const pool = new WorkerPool(db.schema, [c.grpcPort], { keepAlive: true, concurrency: 4 });
    await pool.start(3);
    const middle = Array.from({ length: 30 }, (_, i) => ({
      key: `m${i}`,
      command: 'effect',
      payload: { ms: 400, retryMs: 50 },
      max_attempts: 5,
      depends_on: ['root'],
    }));
    const wf = await api.submitWorkflow({
      tasks: [
        { key: 'root', command: 'effect', payload: { ms: 50 } },
        ...middle,
        { key: 'join', command: 'effect', depends_on: middle.map((m) => m.key) },
      ],
    });
    const ids = Object.values(wf.tasks);
    // Two kills while the middle of the graph runs.
    await audit.waitForEffect(wf.tasks.m0 as string, 1);
    let kills = 0;
    for (; kills < 2; kills++) {
      pool.random()?.proc.signal('SIGKILL');
      await new Promise((r) => setTimeout(r, 700));
    }
    await audit.waitAllFinished(ids);
    const l = await audit.losses(ids);
    expect(l).toMatchObject({ lost: 0, effectiveDuplicates: 0 });
    const joinRuns = await audit.effects(wf.tasks.join as string);
    const { rows } = await db.pool.query<{ t: string }>(
      `SELECT (extract(epoch FROM max(completed_at)) * 1000)::bigint AS t FROM ${db.s}.tasks
       WHERE workflow_id = $1 AND workflow_key <> 'join' AND workflow_key <> 'root'`,
      [wf.id],
    );
    const lastParent = Number(rows[0]?.t);
    expect(joinRuns.length).toBeGreaterThan(0);
    expect(joinRuns[0]?.at_ms).toBeGreaterThanOrEqual(lastParent);
    recordFigure('9. workflow under kills', 'lost tasks', l.lost);
    recordFigure('9. workflow under kills', 'effective duplicates', l.effectiveDuplicates);
    recordFigure('9. workflow under kills', 'workers killed', kills);
    recordFigure('9. workflow under kills', 'executions beyond one per task', l.rawDuplicates);
  });
});
