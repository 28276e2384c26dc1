import { beforeAll, describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import { claimDue } from '../../src/store/claim.js';
import { completeBatch, markStarted } from '../../src/store/complete.js';
import { updateQueue } from '../../src/store/queues.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessScheduler, inProcessWorker } from '../helpers/inprocess.js';
import { until } from '../helpers/wait.js';

/**
 * Rate limits: N starts per period, for a queue and per rate_key, never exceeded across
 * coordinators, measured from the start times the workers report (started_at).
 */
const db = await useSchema();
const api = new TasksApi(db);
let base = '';

beforeAll(async () => {
  const s = await inProcessScheduler(db, 'file');
  base = `http://127.0.0.1:${s.httpPort}`;
});

async function call(method: string, path: string, body?: object) {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : undefined };
}

/** Start times (ms) of a queue's tasks, per rate key ('' for none), in order. */
async function startsByKey(queue: string): Promise<Map<string, number[]>> {
  const { rows } = await db.pool.query<{ rate_key: string; started_at: Date }>(
    `SELECT rate_key, started_at FROM ${db.s}.tasks
     WHERE queue = $1 AND started_at IS NOT NULL ORDER BY started_at`,
    [queue],
  );
  const out = new Map<string, number[]>();
  for (const r of rows) {
    const list = out.get(r.rate_key) ?? [];
    list.push(r.started_at.getTime());
    out.set(r.rate_key, list);
  }
  return out;
}

/**
 * The most starts in any window of `periodMs` (closed at both ends, so two starts exactly
 * one period apart share a window).
 */
function busiestWindow(starts: number[], periodMs: number): number {
  let most = 0;
  for (let i = 0, j = 0; j < starts.length; j++) {
    while ((starts[j] as number) - (starts[i] as number) > periodMs) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

/** Workers on two coordinators that run `rated` tasks for 20 to 60 ms. */
async function ratedWorkers(queues: string[]): Promise<void> {
  const c1 = await inProcessCoordinator(db);
  const c2 = await inProcessCoordinator(db);
  for (const [i, c] of [c1, c2, c1, c2].entries()) {
    await inProcessWorker(c, { queues, concurrency: 8, name: `rated-${i}` }, (w) =>
      w.handle('rated', async () => {
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 40));
        return null;
      }),
    );
  }
}

describe('rate limits', () => {
  it('never starts 11 tasks of a key in any second over 30 s, while other keys and plain tasks run (two coordinators)', async () => {
    const queue = 'rated-keys';
    await updateQueue(db, queue, { keyRateLimit: { count: 10, periodMs: 1000 } });
    const keys = ['hot', 'warm-1', 'warm-2'];
    // More than 30 s of each key at 10 a second, interleaved, and plain tasks behind them.
    const tasks = [
      ...Array.from({ length: 400 * keys.length }, (_, i) => ({
        command: 'rated',
        queue,
        rate_key: keys[i % keys.length] as string,
      })),
      ...Array.from({ length: 200 }, () => ({ command: 'rated', queue })),
    ];
    await api.submitBatch(tasks);
    await ratedWorkers([queue]);
    await until(
      async () => ((await startsByKey(queue)).get('') ?? []).length === 200,
      20_000,
      'the plain tasks to start',
    );
    const first = Math.min(
      ...[...(await startsByKey(queue)).values()].map((s) => s[0] ?? Infinity),
    );
    await new Promise((r) => setTimeout(r, Math.max(0, first + 30_000 - Date.now())));

    const starts = await startsByKey(queue);
    const figures = keys.map((k) => {
      const s = starts.get(k) ?? [];
      return { key: k, starts: s.length, busiest: busiestWindow(s, 1000) };
    });
    process.stdout.write(`key rate limit 10/s over 30 s: ${JSON.stringify(figures)}\n`);
    for (const f of figures) {
      expect(f.busiest, `starts of key ${f.key} in one second`).toBeLessThanOrEqual(10);
      // The limit was reached, and every key kept running all along.
      expect(f.busiest).toBe(10);
      expect(f.starts).toBeGreaterThanOrEqual(250);
    }
  }, 90_000);

  it('never starts more than the queue-wide limit in any second (two coordinators)', async () => {
    const queue = 'rated-queue';
    await updateQueue(db, queue, { rateLimit: { count: 20, periodMs: 1000 } });
    await api.submitBatch(
      Array.from({ length: 300 }, (_, i) => ({
        command: 'rated',
        queue,
        ...(i % 2 ? { rate_key: `k${i % 5}` } : {}),
      })),
    );
    const submitted = Date.now();
    await ratedWorkers([queue]);
    await new Promise((r) => setTimeout(r, Math.max(0, submitted + 5_000 - Date.now())));
    const all = [...(await startsByKey(queue)).values()].flat().sort((a, b) => a - b);
    const busiest = busiestWindow(all, 1000);
    process.stdout.write(
      `queue rate limit 20/s: ${all.length} starts, busiest second ${busiest}\n`,
    );
    expect(busiest).toBe(20);
    expect(all.length).toBeGreaterThanOrEqual(60);
    expect(all.length).toBeLessThan(300);
  });

  it('counts a claimed task that has not reported its start as starting now, so late start reports cannot crowd a window', async () => {
    const queue = 'rated-late';
    await updateQueue(db, queue, { keyRateLimit: { count: 10, periodMs: 1000 } });
    await api.submitBatch(
      Array.from({ length: 30 }, () => ({ command: 'rated', queue, rate_key: 'k' })),
    );
    const claim = () =>
      claimDue(db, {
        queue,
        handlers: null,
        slots: Array(30).fill('w'),
        leaseMs: 60_000,
        limited: true,
      });
    const start = (tasks: Array<{ id: string; attempt: number }>) =>
      markStarted(
        db,
        tasks.map((t) => ({ ...t, workerId: 'w', startedAt: new Date() })),
      );
    const first = await claim();
    expect(first).toHaveLength(10);
    // A second later the first ten have still not started: by claim times there would be
    // room, but ten starts may yet come at any moment.
    await new Promise((r) => setTimeout(r, 1100));
    expect(await claim()).toHaveLength(0);
    await start(first);
    expect(await claim()).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await claim();
    expect(second).toHaveLength(10);
    await start(second);
    const starts = (await startsByKey(queue)).get('k') ?? [];
    expect(starts).toHaveLength(20);
    expect(busiestWindow(starts, 1000)).toBe(10);
  });

  it("counts an attempt's start after the task failed and went back to pending", async () => {
    const queue = 'rated-retry';
    await updateQueue(db, queue, { keyRateLimit: { count: 1, periodMs: 60_000 } });
    const { task } = await api.submit({ command: 'rated', queue, rate_key: 'k', backoff_ms: 0 });
    const [claimed] = await claimDue(db, {
      queue,
      handlers: null,
      slots: ['w'],
      leaseMs: 60_000,
      limited: true,
    });
    expect(claimed?.id).toBe(task.id);
    await markStarted(db, [{ id: task.id, attempt: 1, workerId: 'w', startedAt: new Date() }]);
    await completeBatch(db, [
      {
        id: task.id,
        attempt: 1,
        workerId: 'w',
        ok: false,
        resultJson: null,
        error: 'boom',
        retryable: true,
        executor: 'handler',
        failure: 'error',
        startedAtMs: null,
      },
    ]);
    const again = await api.get(task.id);
    expect(again.task).toMatchObject({ status: 'pending', attempt: 1 });
    expect(
      await claimDue(db, { queue, handlers: null, slots: ['w'], leaseMs: 60_000, limited: true }),
    ).toHaveLength(0);
    expect(again.waitingFor).toMatch(/^rate limit of 1 per 1 min for key 'k'/);
  });

  it('says in waiting_for which limit holds a task back, and when it may start', async () => {
    await updateQueue(db, 'rated-wait', { keyRateLimit: { count: 1, periodMs: 60_000 } });
    await updateQueue(db, 'rated-wait-q', { rateLimit: { count: 2, periodMs: 1500 } });
    const first = await api.submit({ command: 'rated', queue: 'rated-wait', rate_key: 'k' });
    const second = await api.submit({ command: 'rated', queue: 'rated-wait', rate_key: 'k' });
    const other = await api.submit({ command: 'rated', queue: 'rated-wait', rate_key: 'j' });
    const claimed = await claimDue(db, {
      queue: 'rated-wait',
      handlers: null,
      slots: ['w', 'w', 'w'],
      leaseMs: 60_000,
      limited: true,
    });
    expect(claimed.map((c) => c.id).sort()).toEqual([first.task.id, other.task.id].sort());
    // Claimed but not started yet: it counts as starting now.
    const unstarted = await api.get(second.task.id);
    expect(unstarted.waitingFor).toMatch(
      /^rate limit of 1 per 1 min for key 'k': may start at \d{4}-\d\d-\d\dT[\d:.]+Z$/,
    );
    const startedAt = new Date(Date.now() - 5_000);
    const c = claimed.find((t) => t.id === first.task.id);
    await markStarted(db, [
      { id: first.task.id, attempt: 1, workerId: c?.workerId ?? '', startedAt },
    ]);
    const { rows } = await db.pool.query<{ started_at: Date }>(
      `SELECT started_at FROM ${db.s}.tasks WHERE id = $1`,
      [first.task.id],
    );
    const recorded = (rows[0] as { started_at: Date }).started_at.getTime();
    const held = await api.get(second.task.id);
    const at = /may start at (.+)$/.exec(held.waitingFor ?? '')?.[1];
    expect(new Date(at ?? '').getTime()).toBe(recorded + 60_001);

    // One after another, so that the third is the last in claim order.
    const q = [];
    for (let i = 0; i < 3; i++)
      q.push(await api.submit({ command: 'rated', queue: 'rated-wait-q' }));
    await claimDue(db, {
      queue: 'rated-wait-q',
      handlers: null,
      slots: ['w', 'w', 'w'],
      leaseMs: 60_000,
      limited: true,
    });
    const waiting = await api.get((q[2] as { task: { id: string } }).task.id);
    expect(waiting.task.status).toBe('pending');
    expect(waiting.waitingFor).toMatch(
      /^rate limit of 2 per 1500 ms for queue 'rated-wait-q': may start at /,
    );
  });

  it('shows the settings in GET /v1/queues and refuses bad ones, naming the field', async () => {
    const put = await call('PUT', '/v1/queues/rated-api', {
      rate_limit: { count: 100, period_ms: 60_000 },
      key_rate_limit: { count: 10, period_ms: 1000 },
      group_weights: { gold: 3 },
    });
    expect(put.status).toBe(200);
    const list = await call('GET', '/v1/queues');
    expect(list.body?.items.find((q: { name: string }) => q.name === 'rated-api')).toMatchObject({
      rate_limit: { count: 100, period_ms: 60_000 },
      key_rate_limit: { count: 10, period_ms: 1000 },
      group_weights: { gold: 3 },
    });
    const cleared = await call('PUT', '/v1/queues/rated-api', { rate_limit: null });
    expect(cleared.body).toMatchObject({ rate_limit: null, key_rate_limit: { count: 10 } });

    const bad: Array<[object, string]> = [
      [{ rate_limit: { count: 0, period_ms: 1000 } }, 'rate_limit'],
      [{ rate_limit: { count: 5 } }, 'rate_limit'],
      [{ key_rate_limit: { count: 5, period_ms: 86_400_001 } }, 'key_rate_limit'],
      [{ key_rate_limit: 5 }, 'key_rate_limit'],
      [{ group_weights: { gold: 0 } }, 'group_weights'],
      [{ group_weights: ['gold'] }, 'group_weights'],
    ];
    for (const [body, field] of bad) {
      const r = await call('PUT', '/v1/queues/rated-api', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body?.error.field, JSON.stringify(body)).toMatch(new RegExp(`^${field}`));
    }
    for (const [body, field] of [
      [{ command: 'x', rate_key: '' }, 'rate_key'],
      [{ command: 'x', rate_key: 'k'.repeat(256) }, 'rate_key'],
      [{ command: 'x', group: 7 }, 'group'],
    ] as Array<[object, string]>) {
      const r = await call('POST', '/v1/tasks', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body?.error.field, JSON.stringify(body)).toBe(field);
    }
    const ok = await call('POST', '/v1/tasks', { command: 'x', rate_key: 'acct-1', group: 'acme' });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ rate_key: 'acct-1', group: 'acme' });
  });
});
