import { describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';

const db = await useSchema();

/** Prometheus text format → "name{a="x",b="y"}" (labels sorted, service dropped) → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? '')
      .replace(/^\{|\}$/g, '')
      .split(',')
      .filter((l) => l && !l.startsWith('service='))
      .sort()
      .join(',');
    out.set(`${m[1]}{${labels}}`, Number(m[3]));
  }
  return out;
}

describe('/metrics', () => {
  it('moves each counter by exactly the workload', async () => {
    const c = await inProcessCoordinator(db);
    await inProcessWorker(c, { queues: ['m1'], concurrency: 3 }, (w) =>
      w.handle('boom', () => {
        throw new Error('always');
      }),
    );
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${c.httpPort}/metrics`);
      expect(res.headers.get('content-type')).toMatch(/text\/plain/);
      return parse(await res.text());
    };
    const before = await scrape();
    const post = (body: object) =>
      fetch(`http://127.0.0.1:${c.httpPort}/v1/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<{ id: string }>);
    // A batch counts only the tasks it created: the repeated idempotency key is not one.
    const batch = (await fetch(`http://127.0.0.1:${c.httpPort}/v1/tasks/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        tasks: [
          { command: 'echo b1', queue: 'm1', idempotency_key: 'metrics-k' },
          { command: 'echo b2', queue: 'm1', idempotency_key: 'metrics-k' },
          { command: 'echo b3', queue: 'm1' },
          { command: 'sleep 1', queue: 'm2' },
        ],
      }),
    }).then((r) => r.json())) as {
      items: Array<{ id: string; created: boolean }>;
      created: number;
    };
    expect(batch.created).toBe(3);
    const ids = [
      ...(await Promise.all(
        Array.from({ length: 5 }, (_, i) => post({ command: `echo ${i}`, queue: 'm1' })),
      )),
      await post({ command: 'boom', queue: 'm1', max_attempts: 2, backoff_ms: 0 }),
      ...batch.items.slice(0, 3),
    ].map((t) => t.id);
    for (let i = 0; i < 200; i++) {
      const { rows } = await db.pool.query(
        `SELECT count(*)::int AS n FROM ${db.s}.tasks WHERE id = ANY ($1::uuid[]) AND status IN ('succeeded', 'dead')`,
        [ids],
      );
      if (rows[0].n === new Set(ids).size) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Queue depth is read at most once per 500 ms, however often /metrics is scraped.
    await new Promise((r) => setTimeout(r, 600));
    const after = await scrape();
    const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    expect(delta('taskq_tasks_submitted_total{handler="echo",queue="m1"}')).toBe(7);
    // No worker serves queue m2: its name is not a label value /metrics may carry.
    expect(delta('taskq_tasks_submitted_total{handler="sleep",queue="other"}')).toBe(1);
    expect(delta('taskq_tasks_submitted_total{handler="boom",queue="m1"}')).toBe(1);
    expect(delta('taskq_tasks_succeeded_total{handler="echo",queue="m1"}')).toBe(7);
    expect(delta('taskq_tasks_succeeded_total{handler="boom",queue="m1"}')).toBe(0);
    expect(
      delta('taskq_task_attempts_failed_total{handler="boom",queue="m1",reason="error"}'),
    ).toBe(2);
    expect(delta('taskq_tasks_retried_total{handler="boom",queue="m1"}')).toBe(1);
    expect(delta('taskq_tasks_dead_total{handler="boom",queue="m1"}')).toBe(1);
    expect(delta('taskq_task_run_duration_seconds_count{handler="echo",queue="m1"}')).toBe(7);
    expect(delta('taskq_dispatch_latency_seconds_count{queue="m1"}')).toBe(9);
    expect(delta('taskq_worker_reports_refused_total{kind="result"}')).toBe(0);
    expect(after.get('taskq_workers_connected{}')).toBe(1);
    expect(after.get('taskq_queue_depth{queue="m1",state="dead"}')).toBe(1);
    expect(after.get('taskq_leader{}')).toBe(1);
    expect(after.get('taskq_db_pool_connections{state="total"}')).toBeGreaterThan(0);
    expect([...after.keys()].some((k) => k.startsWith('taskq_process_cpu'))).toBe(true);
  });
});
