import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { CronTicker } from '../../src/scheduler/ticker.js';
import { getSchedule } from '../../src/store/schedules.js';
import { useSchema } from '../helpers/db.js';
import { inProcessScheduler } from '../helpers/inprocess.js';

const db = await useSchema();
let base = '';

beforeAll(async () => {
  // No live ticker here: the tests drive their own on a controlled clock.
  const s = await inProcessScheduler(db, 'file', { cron: false });
  base = `http://127.0.0.1:${s.httpPort}`;
});

async function call(method: string, path: string, body?: object) {
  const res = await fetch(base + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const json: any = text ? JSON.parse(text) : null;
  return { status: res.status, body: json };
}

async function tasksOf(
  name: string,
): Promise<Array<{ scheduled_at: Date; idempotency_key: string }>> {
  const s = await getSchedule(db, name);
  const { rows } = await db.pool.query(
    `SELECT scheduled_at, idempotency_key FROM ${db.s}.tasks WHERE idempotency_key LIKE $1 ORDER BY scheduled_at`,
    [`schedule:${s?.id}:%`],
  );
  return rows;
}

/** A clock the test moves by hand. */
function fakeClock(start: Date) {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    set: (d: Date) => (now = d.getTime()),
    advance: (ms: number) => (now += ms),
  };
}

const silent = pino({ level: 'silent' });

describe('/v1/schedules', () => {
  it('creates, reads, changes, pauses, resumes, triggers and deletes a schedule', async () => {
    const created = await call('POST', '/v1/schedules', {
      name: 'nightly-report',
      cron: '30 2 * * *',
      timezone: 'Europe/Paris',
      command: 'report daily',
      payload: { format: 'pdf' },
      queue: 'reports',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'nightly-report',
      misfire: 'run_once',
      paused: false,
      catch_up_limit: 100,
    });
    // 02:30 in Paris is 00:30 or 01:30 UTC depending on the season.
    expect(created.body.next_runs).toHaveLength(5);
    for (const t of created.body.next_runs as string[])
      expect(new Date(t).getUTCMinutes()).toBe(30);
    expect(created.body.next_run_at).toBe(created.body.next_runs[0]);

    expect((await call('GET', '/v1/schedules/nightly-report')).body.id).toBe(created.body.id);
    expect((await call('GET', `/v1/schedules/${created.body.id}`)).body.name).toBe(
      'nightly-report',
    );
    const names = ((await call('GET', '/v1/schedules')).body.items as Array<{ name: string }>).map(
      (s) => s.name,
    );
    expect(names).toContain('nightly-report');

    const patched = await call('PATCH', '/v1/schedules/nightly-report', {
      cron: '0 * * * *',
      timezone: 'UTC',
    });
    expect(patched.body).toMatchObject({ cron: '0 * * * *', payload: { format: 'pdf' } });
    expect(new Date(patched.body.next_run_at).getUTCMinutes()).toBe(0);

    expect((await call('POST', '/v1/schedules/nightly-report/pause')).body).toMatchObject({
      paused: true,
      next_run_at: null,
      next_runs: [],
    });
    expect((await call('POST', '/v1/schedules/nightly-report/resume')).body.paused).toBe(false);

    const run = await call('POST', '/v1/schedules/nightly-report/trigger');
    expect(run.status).toBe(201);
    expect(run.body).toMatchObject({
      command: 'report daily',
      queue: 'reports',
      payload: { format: 'pdf' },
      status: 'pending',
    });
    // A run by hand is a run: it is the last one, and listed as manual.
    const after = (await call('GET', '/v1/schedules/nightly-report')).body;
    expect(after.last_task_id).toBe(run.body.id);
    expect(Date.parse(after.last_run_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(after.recent_runs[0]).toMatchObject({ task_id: run.body.id, trigger: 'manual' });

    expect((await call('DELETE', '/v1/schedules/nightly-report')).status).toBe(204);
    expect((await call('GET', '/v1/schedules/nightly-report')).status).toBe(404);
  });

  it.each([
    [{ name: 'a', cron: 'every day', command: 'x' }, 'cron', /cron must have 5 fields/],
    [{ name: 'a', cron: '61 * * * *', command: 'x' }, 'cron', /cron "61 \* \* \* \*" is not valid/],
    [
      { name: 'a', cron: '* * * * *', command: 'x', timezone: 'Mars/Olympus' },
      'timezone',
      /IANA time zone/,
    ],
    [
      { name: 'a', cron: '* * * * *', command: 'x', misfire: 'sometimes' },
      'misfire',
      /misfire must be one of skip, run_once, run_all/,
    ],
    [{ name: 'has space', cron: '* * * * *', command: 'x' }, 'name', /name has characters/],
    [{ cron: '* * * * *', command: 'x' }, 'name', /name is required/],
  ])('rejects %j naming %s', async (body, field, message) => {
    const r = await call('POST', '/v1/schedules', body);
    expect(r.status).toBe(400);
    expect(r.body.error.field).toBe(field);
    expect(r.body.error.message).toMatch(message);
  });

  it('answers 409 for a taken name and 404 for an unknown schedule', async () => {
    await call('POST', '/v1/schedules', { name: 'dup', cron: '* * * * *', command: 'x' });
    expect(
      (await call('POST', '/v1/schedules', { name: 'dup', cron: '* * * * *', command: 'x' }))
        .status,
    ).toBe(409);
    expect((await call('POST', '/v1/schedules/nope/trigger')).status).toBe(404);
    expect((await call('PATCH', '/v1/schedules/nope', { paused: true })).status).toBe(404);
    await call('DELETE', '/v1/schedules/dup');
  });
});

describe('cron ticker', () => {
  it('fires each tick exactly once with two schedulers racing on a controlled clock', async () => {
    const created = await call('POST', '/v1/schedules', {
      name: 'every-minute',
      cron: '* * * * *',
      command: 'echo tick',
      paused: false,
    });
    const clock = fakeClock(new Date(created.body.next_run_at));
    const a = new CronTicker(db, { logger: silent, now: clock.now });
    const b = new CronTicker(db, { logger: silent, now: clock.now });
    let fired = 0;
    for (let i = 0; i < 10; i++) {
      const counts = await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
      fired += counts.reduce((sum, n) => sum + n, 0);
      clock.advance(60_000);
    }
    expect(fired).toBe(10);
    const tasks = await tasksOf('every-minute');
    expect(tasks).toHaveLength(10);
    const ticks = tasks.map((t) => t.scheduled_at.getTime());
    expect(new Set(ticks).size).toBe(10);
    for (let i = 1; i < ticks.length; i++)
      expect((ticks[i] as number) - (ticks[i - 1] as number)).toBe(60_000);
  });

  it('applies each misfire policy after downtime', async () => {
    const make = async (name: string, misfire: string) =>
      (
        await call('POST', '/v1/schedules', {
          name,
          cron: '*/5 * * * *',
          command: 'echo late',
          misfire,
          catch_up_limit: 5,
        })
      ).body;
    const skip = await make('mf-skip', 'skip');
    await make('mf-once', 'run_once');
    await make('mf-all', 'run_all');
    const start = new Date(skip.next_run_at).getTime();
    const at = (minutes: number) => start + minutes * 60_000;
    // Down for half an hour; back 90 s after the latest tick, so none is on time.
    const clock = fakeClock(new Date(at(30) + 90_000));
    const ticker = new CronTicker(db, { logger: silent, now: clock.now });
    await ticker.tick();
    expect(await tasksOf('mf-skip')).toHaveLength(0);
    expect((await tasksOf('mf-once')).map((t) => t.scheduled_at.getTime())).toEqual([at(30)]);
    expect((await tasksOf('mf-all')).map((t) => t.scheduled_at.getTime())).toEqual([
      at(10),
      at(15),
      at(20),
      at(25),
      at(30),
    ]);
    // Then each carries on from now: the next, on-time tick fires under every policy.
    for (const name of ['mf-skip', 'mf-once', 'mf-all'])
      expect((await getSchedule(db, name))?.nextRunAt.getTime()).toBe(at(35));
    clock.set(new Date(at(35) + 10_000));
    await ticker.tick();
    for (const name of ['mf-skip', 'mf-once', 'mf-all']) {
      expect((await tasksOf(name)).at(-1)?.scheduled_at.getTime()).toBe(at(35));
      expect((await getSchedule(db, name))?.nextRunAt.getTime()).toBe(at(40));
    }
  });
});
