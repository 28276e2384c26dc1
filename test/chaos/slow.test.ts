import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/store/db.js';
import { EmbeddedPostgres } from '../../src/store/embedded.js';
import { migrate } from '../../src/store/migrate.js';
import { useSchema } from '../helpers/db.js';
import { startTaskq } from '../helpers/processes.js';
import { track } from '../helpers/resources.js';
import { Api, Audit, WorkerPool, chaosCoordinator, createSideEffectLog } from './harness.js';
import { recordFigure } from './figures.js';

/**
 * The slow chaos scenarios (4, 5, 6 and 8), run by `npm run chaos`. Production timings.
 */

const db = await useSchema();
const audit = new Audit(db);

beforeAll(async () => {
  await createSideEffectLog(db);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function completionTimes(ids: string[], d = db): Promise<number[]> {
  const { rows } = await d.pool.query<{ t: string }>(
    `SELECT (extract(epoch FROM completed_at) * 1000)::bigint AS t FROM ${d.s}.tasks WHERE id = ANY ($1::uuid[]) AND completed_at IS NOT NULL ORDER BY 1`,
    [ids],
  );
  return rows.map((r) => Number(r.t));
}

describe('chaos (slow)', () => {
  it('4. kill -9 of a coordinator under load, with 2 running: workers move over, nothing lost', async () => {
    const c1 = await chaosCoordinator(db.schema, { name: 'coordinator-1' });
    const c2 = await chaosCoordinator(db.schema, { name: 'coordinator-2' });
    const scheduler = startTaskq('scheduler', ['scheduler', '--port', '0'], {
      DATABASE_URL: db.url,
      TASKQ_SCHEMA: db.schema,
    });
    const sport = (await scheduler.waitForMsg('scheduler started')).httpPort as number;
    const api = new Api(`http://127.0.0.1:${sport}`);
    const pool = new WorkerPool(db.schema, [c1.grpcPort, c2.grpcPort], { concurrency: 8 });
    const workers = await pool.start(4);
    const onC1 = workers.filter((w) =>
      w.proc.lines.some(
        (l) => l.msg === 'connected' && String(l.coordinator).endsWith(`:${c1.grpcPort}`),
      ),
    );
    const victim = onC1.length >= 2 ? c1 : c2;

    const ids: string[] = [];
    let killedAt = 0;
    for (let batch = 0; batch < 40; batch++) {
      ids.push(
        ...(await api.submitBatch(
          Array.from({ length: 50 }, () => ({ command: 'effect', payload: { ms: 10 } })),
        )),
      );
      if (batch === 12) {
        killedAt = Date.now();
        victim.proc.signal('SIGKILL');
      }
      await sleep(100);
    }
    const submittedUntil = Date.now();
    await audit.waitAllFinished(ids, 120_000);
    const l = await audit.losses(ids);
    expect(l).toMatchObject({ lost: 0, effectiveDuplicates: 0 });
    // While work kept coming: the pause in completions that clients would notice.
    const times = (await completionTimes(ids)).filter(
      (t) => t >= killedAt - 1000 && t <= submittedUntil,
    );
    let gap = 0;
    for (let i = 1; i < times.length; i++)
      gap = Math.max(gap, (times[i] as number) - (times[i - 1] as number));
    // Tasks the dead coordinator had claimed but not handed out wait for their lease.
    const { rows } = await db.pool.query<{ n: number; last: string | null }>(
      `SELECT count(*)::int AS n, (extract(epoch FROM max(t.completed_at)) * 1000)::bigint AS last
       FROM ${db.s}.tasks t WHERE t.id = ANY ($1::uuid[])
         AND EXISTS (SELECT 1 FROM ${db.s}.task_attempts a WHERE a.task_id = t.id AND a.outcome = 'lease_expired')`,
      [ids],
    );
    recordFigure('4. kill -9 coordinator (of 2)', 'tasks lost', l.lost);
    recordFigure(
      '4. kill -9 coordinator (of 2)',
      'longest pause in completions under load',
      gap,
      'ms',
    );
    recordFigure(
      '4. kill -9 coordinator (of 2)',
      'stranded claims recovered by lease expiry',
      rows[0]?.n ?? 0,
    );
    if (rows[0]?.last) {
      recordFigure(
        '4. kill -9 coordinator (of 2)',
        'last stranded claim done after the kill',
        Number(rows[0].last) - killedAt,
        'ms',
      );
    }
    recordFigure(
      '4. kill -9 coordinator (of 2)',
      'raw duplicates (re-run handlers)',
      l.rawDuplicates,
    );
    recordFigure(
      '4. kill -9 coordinator (of 2)',
      'workers on the killed coordinator',
      victim === c1 ? onC1.length : 4 - onC1.length,
    );
  });

  it('5. SIGSTOP of the leader past its TTL, then SIGCONT: no write from the old term is accepted', async () => {
    const c1 = await chaosCoordinator(db.schema, { name: 'coordinator-1' });
    const c2 = await chaosCoordinator(db.schema, { name: 'coordinator-2' });
    const api = new Api(`http://127.0.0.1:${c2.httpPort}`);
    const elected = await Promise.race([
      c1.proc
        .waitForMsg('elected leader')
        .then((l) => ({ leader: c1, follower: c2, epoch: l.epoch as number })),
      c2.proc
        .waitForMsg('elected leader')
        .then((l) => ({ leader: c2, follower: c1, epoch: l.epoch as number })),
    ]);
    const { leader, follower } = elected;
    const oldEpoch = elected.epoch;

    // Tasks nobody serves, made to look held by a vanished worker whose lease has expired.
    const orphan = async (n: number): Promise<string[]> => {
      const ids = await api.submitBatch(
        Array.from({ length: n }, () => ({ command: 'effect', queue: 'nobody-serves' })),
      );
      await db.pool.query(
        `UPDATE ${db.s}.tasks SET status = 'running', attempt = attempt + 1, worker_id = 'ghost',
           picked_at = now(), lease_expires_at = now() - interval '1 second' WHERE id = ANY ($1::uuid[])`,
        [ids],
      );
      return ids;
    };

    const stoppedAt = Date.now();
    leader.proc.signal('SIGSTOP');
    const takeover = await follower.proc.waitForMsg('elected leader', 30_000);
    const takeoverMs = Date.now() - stoppedAt;
    const newEpoch = takeover.epoch as number;
    expect(newEpoch).toBeGreaterThan(oldEpoch);
    const reapedByNew = await orphan(200);
    await sleep(1500);
    const raced = await orphan(500);
    leader.proc.signal('SIGCONT');
    await leader.proc.waitForMsg('no longer leader', 30_000);
    await sleep(2500);

    const { rows } = await db.pool.query<{ epoch: string; n: number }>(
      `SELECT leader_epoch AS epoch, count(*)::int AS n FROM ${db.s}.task_attempts
       WHERE task_id = ANY ($1::uuid[]) AND outcome = 'lease_expired' GROUP BY 1`,
      [[...reapedByNew, ...raced]],
    );
    const byEpoch = new Map(rows.map((r) => [Number(r.epoch), r.n]));
    expect(byEpoch.get(oldEpoch) ?? 0).toBe(0);
    expect(byEpoch.get(newEpoch)).toBe(700);
    recordFigure(
      '5. SIGSTOP leader past TTL',
      'writes accepted from the old epoch',
      byEpoch.get(oldEpoch) ?? 0,
    );
    recordFigure('5. SIGSTOP leader past TTL', 'takeover after SIGSTOP', takeoverMs, 'ms');
  });

  it('6. PostgreSQL restarted (immediate) under load: no acknowledged submit lost, 503s not hangs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskq-chaos-pg-'));
    chmodSync(dir, 0o755);
    const pg = new EmbeddedPostgres({ dataDir: join(dir, 'data'), ephemeral: false });
    const url = await pg.start();
    track({
      name: 'chaos postgres',
      isOpen: () => true,
      stop: async () => {
        await pg.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    });
    const own = createDb({ url, schema: 'chaos_pg', max: 2 });
    await migrate(own);
    await createSideEffectLog(own);
    const env = { DATABASE_URL: url, TASKQ_SCHEMA: 'chaos_pg' };
    const c = await chaosCoordinator('chaos_pg', { env });
    const pool = new WorkerPool('chaos_pg', [c.grpcPort], { concurrency: 8, env });
    await pool.start(2);
    const base = `http://127.0.0.1:${c.httpPort}`;

    const acked: string[] = [];
    const statuses = new Map<number, number>();
    let slowest = 0;
    let stop = false;
    const submitter = async (): Promise<void> => {
      while (!stop) {
        const t0 = Date.now();
        let status: number;
        try {
          const res = await fetch(`${base}/v1/tasks`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ command: 'effect', payload: { ms: 5 } }),
            signal: AbortSignal.timeout(20_000),
          });
          status = res.status;
          const body = (await res.json()) as { id?: string };
          if (status === 201 && body.id) acked.push(body.id);
        } catch {
          status = -1; // no answer at all (a hang or a reset)
        }
        slowest = Math.max(slowest, Date.now() - t0);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        await sleep(20);
      }
    };
    const submitters = Array.from({ length: 4 }, () => submitter());
    await sleep(4000);
    const restartAt = Date.now();
    await pg.restartImmediate();
    await sleep(8000);
    stop = true;
    await Promise.all(submitters);

    const auditOwn = new Audit(own);
    await auditOwn.waitAllFinished(acked, 120_000);
    const l = await auditOwn.losses(acked);
    expect(l.lost).toBe(0);
    expect(l.effectiveDuplicates).toBe(0);
    const unexpected = [...statuses.keys()].filter((s) => s !== 201 && s !== 503);
    expect(unexpected).toEqual([]);
    expect(slowest).toBeLessThan(15_000);

    const times = await completionTimes(acked, own);
    const before = times.filter((t) => t >= restartAt - 3000 && t < restartAt).length / 3;
    let backAt = NaN;
    for (let t = restartAt; t < restartAt + 60_000; t += 250) {
      const inWindow = times.filter((x) => x >= t && x < t + 1000).length;
      if (inWindow >= 0.8 * before) {
        backAt = t - restartAt;
        break;
      }
    }
    recordFigure('6. PostgreSQL restart (immediate)', 'acknowledged submits lost', l.lost);
    recordFigure(
      '6. PostgreSQL restart (immediate)',
      '503 answers during the outage',
      statuses.get(503) ?? 0,
    );
    recordFigure('6. PostgreSQL restart (immediate)', 'slowest REST answer', slowest, 'ms');
    recordFigure(
      '6. PostgreSQL restart (immediate)',
      'back to full throughput after',
      backAt,
      'ms',
    );
    await own.pool.end();
  });

  it('8. soak: 10,000 tasks, 4 workers, a random worker killed every 2 s', async () => {
    const c = await chaosCoordinator(db.schema);
    const api = new Api(`http://127.0.0.1:${c.httpPort}`);
    const pool = new WorkerPool(db.schema, [c.grpcPort], { concurrency: 16, keepAlive: true });
    await pool.start(4);
    const started = Date.now();
    const ids = [
      ...(await api.submitBatch(
        Array.from({ length: 5000 }, () => ({ command: 'effect', max_attempts: 10 })),
      )),
      ...(await api.submitBatch(
        Array.from({ length: 5000 }, () => ({ command: 'effect', max_attempts: 10 })),
      )),
    ];
    let kills = 0;
    const killer = setInterval(() => {
      const w = pool.random();
      if (w) {
        kills++;
        w.proc.signal('SIGKILL');
      }
    }, 2000);
    try {
      await audit.waitAllFinished(ids, 240_000);
    } finally {
      clearInterval(killer);
    }
    const drainMs = Date.now() - started;
    const l = await audit.losses(ids);
    expect(l).toMatchObject({ lost: 0, effectiveDuplicates: 0 });
    recordFigure('8. soak 10k, kill a worker every 2 s', 'tasks lost', l.lost);
    recordFigure(
      '8. soak 10k, kill a worker every 2 s',
      'effective duplicates',
      l.effectiveDuplicates,
    );
    recordFigure(
      '8. soak 10k, kill a worker every 2 s',
      'raw duplicates (handler re-runs)',
      l.rawDuplicates,
    );
    recordFigure('8. soak 10k, kill a worker every 2 s', 'workers killed', kills);
    recordFigure('8. soak 10k, kill a worker every 2 s', 'drain time', drainMs, 'ms');
  });
});
