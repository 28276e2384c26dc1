import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/store/db.js';
import { EmbeddedPostgres } from '../../src/store/embedded.js';
import { migrate } from '../../src/store/migrate.js';
import { Audit, CHAOS_HANDLERS, createSideEffectLog } from '../chaos/harness.js';
import { percentile, recordFigure } from '../chaos/figures.js';
import { startTaskq, type TaskqProcess } from '../helpers/processes.js';
import { Topology } from './topology.js';

/**
 * Task Queue across real network boundaries: 1 PostgreSQL host, 2 coordinator hosts (each
 * with a scheduler) and 3 worker hosts, each a network namespace on a private bridge, with
 * production timings. Partitions drop packets silently, as a cut link does. Needs root.
 */

const unavailable = Topology.unavailable();
if (unavailable) process.stdout.write(`skipping the multi-host tests: ${unavailable}\n`);

const topo = new Topology();
const dir = mkdtempSync(join(tmpdir(), 'taskq-netns-'));
chmodSync(dir, 0o755);
const SCHEMA = 'netns';
let pg: EmbeddedPostgres;
let db: Db;
let audit: Audit;
const coordinators = new Map<string, TaskqProcess>();
const workers = new Map<string, TaskqProcess>();
const allIds: string[] = [];
let api = '';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function submit(body: object): Promise<string> {
  const res = await fetch(`${api}/v1/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  allIds.push(id);
  return id;
}

async function metric(host: string, name: string): Promise<number> {
  try {
    const text = await (
      await fetch(`http://${topo.host(host).ip}:8080/metrics`, {
        signal: AbortSignal.timeout(2000),
      })
    ).text();
    // Every series of the metric, summed (a labelled counter has one per label set).
    return text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
  } catch {
    return NaN;
  }
}

async function until<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function workerHostOf(pid: number): string {
  for (const [host, p] of workers) if (p.pid === pid) return host;
  throw new Error(`no worker with pid ${pid}`);
}

describe.skipIf(unavailable)('multi-host, in network namespaces', () => {
  beforeAll(async () => {
    topo.create();
    topo.addHost('pg', 10);
    for (const [name, octet] of [
      ['c1', 11],
      ['c2', 12],
      ['w1', 21],
      ['w2', 22],
      ['w3', 23],
    ] as const)
      topo.addHost(name, octet);
    const pgHost = topo.host('pg');
    pg = new EmbeddedPostgres({
      dataDir: join(dir, 'data'),
      ephemeral: true,
      listenAddress: pgHost.ip,
      trustNetwork: `${topo.gateway.replace(/\.1$/, '.0')}/24`,
      commandPrefix: [
        ...topo.on('pg'),
        'setpriv',
        '--reuid=postgres',
        '--regid=postgres',
        '--init-groups',
        '--',
      ],
    });
    const url = await pg.start();
    db = createDb({ url, schema: SCHEMA, max: 3 });
    await migrate(db);
    await createSideEffectLog(db);
    audit = new Audit(db);
    const env = { DATABASE_URL: url, TASKQ_SCHEMA: SCHEMA };
    for (const c of ['c1', 'c2']) {
      const ip = topo.host(c).ip;
      const p = startTaskq(
        c,
        ['coordinator', '--host', ip, '--insecure', '--grpc-port', '50051', '--http-port', '8080'],
        env,
        'file',
        topo.on(c),
      );
      coordinators.set(c, p);
      await p.waitForMsg('coordinator started');
      const s = startTaskq(
        `scheduler-${c}`,
        ['scheduler', '--host', ip, '--insecure', '--port', '8081'],
        env,
        'file',
        topo.on(c),
      );
      await s.waitForMsg('scheduler started');
    }
    api = `http://${topo.host('c2').ip}:8081`;
    const both = ['c1', 'c2'].map((c) => `${topo.host(c).ip}:50051`).join(',');
    // w3 reaches c1 through a proxy that adds 200 ms on its uplink.
    const proxy = topo.spawn('w3', [
      process.execPath,
      new URL('./delay-proxy.mjs', import.meta.url).pathname,
      '15051',
      topo.host('c1').ip,
      '50051',
      '200',
    ]);
    await new Promise((r) => proxy.stdout?.once('data', r));
    for (const [w, coord] of [
      ['w1', both],
      ['w2', both],
      ['w3', '127.0.0.1:15051'],
    ] as const) {
      const p = startTaskq(
        w,
        [
          'worker',
          '--coordinator',
          coord,
          '--concurrency',
          '4',
          '--handlers',
          CHAOS_HANDLERS,
          '--name',
          w,
        ],
        env,
        'file',
        topo.on(w),
      );
      workers.set(w, p);
      await p.waitForMsg('connected');
    }
  });

  afterAll(async () => {
    for (const p of [...workers.values(), ...coordinators.values()])
      await p.stop(5000).catch(() => undefined);
    await db?.pool.end().catch(() => undefined);
    await pg?.stop().catch(() => undefined);
    topo.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a worker host cut off from the coordinators: its task moves after the lease; its late result is rejected after healing', async () => {
    const id = await submit({
      command: 'effect',
      payload: { ms: 4000, retryMs: 10 },
      max_attempts: 5,
    });
    const first = await audit.waitForEffect(id, 1);
    const victim = workerHostOf(first.pid);
    const cutAt = Date.now();
    for (const c of ['c1', 'c2']) topo.partition(victim, c);
    const second = await audit.waitForEffect(id, 2, 30_000);
    const movedAfter = second.at_ms - cutAt;
    expect(workerHostOf(second.pid)).not.toBe(victim);
    await audit.waitAllFinished([id], 30_000);
    const rejectedBefore =
      (await metric('c1', 'taskq_worker_reports_refused_total')) +
      (await metric('c2', 'taskq_worker_reports_refused_total'));
    const healAt = Date.now();
    for (const c of ['c1', 'c2']) topo.heal(victim, c);
    await until(
      async () =>
        (await metric('c1', 'taskq_worker_reports_refused_total')) +
          (await metric('c2', 'taskq_worker_reports_refused_total')) >
        rejectedBefore,
      60_000,
      'the cut-off worker to report and be rejected',
    );
    const rejectedAfter = Date.now() - healAt;
    expect(await audit.task(id)).toMatchObject({ status: 'succeeded', attempt: 2 });
    expect((await audit.losses([id])).effectiveDuplicates).toBe(0);
    recordFigure(
      'netns: worker host partitioned',
      'task moved to another host after',
      movedAfter,
      'ms',
    );
    recordFigure(
      'netns: worker host partitioned',
      'late result rejected after healing',
      rejectedAfter,
      'ms',
    );
  });

  it('the leader cut off from the database: a new leader within TTL + renew, and no cron tick fires twice', async () => {
    const res = await fetch(`${api}/v1/schedules`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'every-second',
        cron: '* * * * * *',
        command: 'echo tick',
        queue: 'ticks',
      }),
    });
    expect(res.status).toBe(201);
    const leader = await until(
      async () => {
        for (const c of ['c1', 'c2']) if ((await metric(c, 'taskq_leader')) === 1) return c;
        return undefined;
      },
      15_000,
      'a leader',
    );
    const other = leader === 'c1' ? 'c2' : 'c1';
    if (other === 'c2') api = `http://${topo.host('c2').ip}:8081`;
    else api = `http://${topo.host('c1').ip}:8081`;
    const cutAt = Date.now();
    topo.partition(leader, 'pg');
    await until(async () => (await metric(other, 'taskq_leader')) === 1, 20_000, 'a new leader');
    const takeover = Date.now() - cutAt;
    expect(takeover).toBeLessThan(5000 + 1000 + 4000);
    await sleep(4000);
    topo.heal(leader, 'pg');
    await sleep(3000);
    await fetch(`${api}/v1/schedules/every-second/pause`, { method: 'POST' });
    const { rows } = await db.pool.query<{ ticks: number; duplicates: number }>(
      `SELECT count(*)::int AS ticks,
              (SELECT count(*)::int FROM (SELECT tick FROM ${db.s}.schedule_runs GROUP BY schedule_id, tick HAVING count(*) > 1) d)
              + (SELECT count(*)::int FROM (SELECT idempotency_key FROM ${db.s}.tasks WHERE idempotency_key LIKE 'schedule:%' GROUP BY 1 HAVING count(*) > 1) t) AS duplicates
       FROM ${db.s}.schedule_runs`,
    );
    const fired = await db.pool.query<{ at: string }>(
      `SELECT (extract(epoch FROM fired_at) * 1000)::bigint AS at FROM ${db.s}.schedule_runs ORDER BY fired_at`,
    );
    const times = fired.rows.map((r) => Number(r.at)).filter((t) => t >= cutAt - 2000);
    let gap = 0;
    for (let i = 1; i < times.length; i++)
      gap = Math.max(gap, (times[i] as number) - (times[i - 1] as number));
    expect(rows[0]?.duplicates).toBe(0);
    // The scheduler that lost the database may have held the schedule's row lock: the server
    // ends its idle transaction after 5 s, and the other scheduler carries on.
    expect(gap).toBeLessThan(10_000);
    expect(rows[0]?.ticks).toBeGreaterThan(3);
    recordFigure('netns: leader cut off from PostgreSQL', 'new leader after', takeover, 'ms');
    recordFigure('netns: leader cut off from PostgreSQL', 'cron ticks fired', rows[0]?.ticks ?? 0);
    recordFigure(
      'netns: leader cut off from PostgreSQL',
      'longest pause between cron ticks',
      gap,
      'ms',
    );
    recordFigure(
      'netns: leader cut off from PostgreSQL',
      'ticks fired twice',
      rows[0]?.duplicates ?? 0,
    );
  });

  it('a worker host killed outright: its tasks run elsewhere, none lost', async () => {
    const ids = await Promise.all(
      Array.from({ length: 24 }, () =>
        submit({ command: 'effect', payload: { ms: 2500, retryMs: 10 }, max_attempts: 5 }),
      ),
    );
    const w2 = workers.get('w2') as TaskqProcess;
    await until(
      async () => {
        const { rows } = await db.pool.query(
          `SELECT 1 FROM ${db.s}.side_effects WHERE pid = $1 LIMIT 1`,
          [w2.pid],
        );
        return rows.length > 0;
      },
      20_000,
      'w2 to run something',
    );
    const killedAt = Date.now();
    topo.kill('w2');
    await audit.waitAllFinished(ids, 60_000);
    const { rows } = await db.pool.query<{ at: string }>(
      `SELECT max(at_ms) AS at FROM ${db.s}.side_effects WHERE task_id = ANY ($1::uuid[]) AND attempt > 1`,
      [ids],
    );
    const l = await audit.losses(ids);
    expect(l).toMatchObject({ lost: 0, effectiveDuplicates: 0 });
    recordFigure('netns: worker host killed', 'tasks lost', l.lost);
    if (rows[0]?.at)
      recordFigure(
        'netns: worker host killed',
        'its last task re-run after',
        Number(rows[0].at) - killedAt,
        'ms',
      );
  });

  it('200 ms of added latency on one worker link: it keeps working, only slower', async () => {
    const ids = await Promise.all(
      Array.from({ length: 60 }, () => submit({ command: 'effect', payload: { ms: 20 } })),
    );
    await audit.waitAllFinished(ids, 60_000);
    const { rows } = await db.pool.query<{ pid: number; ms: number }>(
      `SELECT e.pid, extract(epoch FROM t.completed_at - t.created_at) * 1000 AS ms
       FROM ${db.s}.tasks t JOIN ${db.s}.side_effects e ON e.task_id = t.id
       WHERE t.id = ANY ($1::uuid[])`,
      [ids],
    );
    const w3 = (workers.get('w3') as TaskqProcess).pid;
    const slow = rows.filter((r) => r.pid === w3).map((r) => Number(r.ms));
    const fast = rows.filter((r) => r.pid !== w3).map((r) => Number(r.ms));
    expect(slow.length).toBeGreaterThan(0);
    expect((await audit.losses(ids)).lost).toBe(0);
    recordFigure(
      'netns: 200 ms on one worker link',
      'submit to done p50, that worker',
      percentile(slow, 50),
      'ms',
    );
    recordFigure(
      'netns: 200 ms on one worker link',
      'submit to done p50, other worker',
      percentile(fast, 50),
      'ms',
    );
  });

  it('lost nothing and accepted nothing twice across every scenario', async () => {
    await audit.waitAllFinished(allIds, 60_000);
    const l = await audit.losses(allIds);
    expect(l).toMatchObject({ lost: 0, effectiveDuplicates: 0 });
    recordFigure('netns: all scenarios', 'tasks lost', l.lost);
    recordFigure('netns: all scenarios', 'effective duplicates', l.effectiveDuplicates);
    recordFigure('netns: all scenarios', 'raw duplicates (handler re-runs)', l.rawDuplicates);
  });
});
