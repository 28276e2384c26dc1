import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { CronTicker } from '../../src/scheduler/ticker.js';
import { useSchema } from '../helpers/db.js';
import { inProcessScheduler } from '../helpers/inprocess.js';
import { fakeClock, restCall } from '../helpers/rest.js';

/**
 * Schedules that start workflows, over REST and with tickers driven on a controlled clock:
 * what a bad body answers (a 400 naming the field, nothing stored), switching a schedule
 * between a task and a workflow, and each tick firing one workflow however many tickers race.
 * test/e2e/schedule-workflows.test.ts runs them with real processes and a worker.
 */

const db = await useSchema();
let base = '';

beforeAll(async () => {
  // No live ticker: the tests drive their own.
  const s = await inProcessScheduler(db, 'file', { cron: false });
  base = `http://127.0.0.1:${s.httpPort}`;
});

const call = (method: string, path: string, body?: object) => restCall(base, method, path, body);
const silent = pino({ level: 'silent' });

const FLOW = {
  tasks: [
    { key: 'a', command: 'echo a' },
    { key: 'b', command: 'echo b', depends_on: ['a'] },
  ],
};

/** The workflows a schedule's ticks started, oldest first. */
async function workflowsOf(scheduleId: string) {
  const { rows } = await db.pool.query(
    `SELECT w.id, w.idempotency_key, r.tick, (SELECT count(*)::int FROM ${db.s}.tasks t WHERE t.workflow_id = w.id) AS tasks
     FROM ${db.s}.schedule_runs r JOIN ${db.s}.workflows w ON w.id = r.workflow_id
     WHERE r.schedule_id = $1 ORDER BY r.tick`,
    [scheduleId],
  );
  return rows as Array<{ id: string; idempotency_key: string; tick: Date; tasks: number }>;
}

describe('a workflow schedule over REST', () => {
  it.each([
    [
      'both a command and a workflow',
      { command: 'echo x', workflow: FLOW },
      'workflow',
      /either command or workflow, not both/,
    ],
    ['neither', {}, 'command', /command is required, or workflow/],
    [
      'a workflow without tasks',
      { workflow: { name: 'empty' } },
      'workflow.tasks',
      /workflow\.tasks is required/,
    ],
    [
      'a task without a command',
      { workflow: { tasks: [{ key: 'a' }] } },
      'workflow.tasks.0.command',
      /workflow\.tasks\.0\.command is required/,
    ],
    [
      'an unknown key in depends_on',
      { workflow: { tasks: [{ key: 'a', command: 'x', depends_on: ['nope'] }] } },
      'workflow.tasks.0.depends_on.0',
      /no task has the key "nope"/,
    ],
    [
      'a cycle',
      {
        workflow: {
          tasks: [
            { key: 'a', command: 'x', depends_on: ['b'] },
            { key: 'b', command: 'x', depends_on: ['a'] },
          ],
        },
      },
      'workflow.tasks.0.depends_on',
      /cycle/,
    ],
    [
      'a run_at on a task',
      { workflow: { tasks: [{ key: 'a', command: 'x', run_at: '2030-01-01T00:00:00Z' }] } },
      'workflow.tasks.0.run_at',
      /start when the schedule fires; leave run_at out/,
    ],
    [
      'an idempotency key (each run has its own)',
      { workflow: { ...FLOW, idempotency_key: 'k' } },
      'workflow.idempotency_key',
      /unknown field 'workflow\.idempotency_key'/,
    ],
    [
      'a task field beside the workflow',
      { workflow: FLOW, queue: 'reports' },
      'queue',
      /queue is a field of a task schedule/,
    ],
  ])(
    'refuses %s with a 400 naming the field, and stores nothing',
    async (_what, extra, field, message) => {
      const r = await call('POST', '/v1/schedules', { name: 'bad', cron: '* * * * *', ...extra });
      expect(r.status).toBe(400);
      expect(r.body.error.field).toBe(field);
      expect(r.body.error.message).toMatch(message);
      expect((await call('GET', '/v1/schedules/bad')).status).toBe(404);
    },
  );

  it('switches a schedule from a task to a workflow and back, refusing a bad change', async () => {
    const created = await call('POST', '/v1/schedules', {
      name: 'switch',
      cron: '0 3 * * *',
      command: 'report daily',
      queue: 'reports',
      priority: 4,
    });
    expect(created.body).toMatchObject({ kind: 'task', workflow: null, queue: 'reports' });

    const toWorkflow = await call('PATCH', '/v1/schedules/switch', { workflow: FLOW });
    expect(toWorkflow.status).toBe(200);
    expect(toWorkflow.body).toMatchObject({
      kind: 'workflow',
      command: null,
      queue: null,
      priority: null,
      workflow: FLOW,
      cron: '0 3 * * *',
      next_run_at: created.body.next_run_at,
    });

    // A bad change is refused whole: the schedule keeps its workflow.
    const bad = await call('PATCH', '/v1/schedules/switch', {
      workflow: { tasks: [{ key: 'a', command: 'x', depends_on: ['zz'] }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('workflow.tasks.0.depends_on.0');
    const queue = await call('PATCH', '/v1/schedules/switch', { queue: 'reports' });
    expect(queue.status).toBe(400);
    expect(queue.body.error.field).toBe('queue');
    expect((await call('GET', '/v1/schedules/switch')).body.workflow).toEqual(FLOW);

    const toTask = await call('PATCH', '/v1/schedules/switch', { command: 'report weekly' });
    expect(toTask.body).toMatchObject({
      kind: 'task',
      command: 'report weekly',
      workflow: null,
      queue: 'default',
      priority: 0,
    });
  });
});

describe('the cron ticker and workflow schedules', () => {
  it('starts one workflow a tick with two tickers racing on a controlled clock', async () => {
    const created = await call('POST', '/v1/schedules', {
      name: 'wf-every-minute',
      cron: '* * * * *',
      workflow: FLOW,
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
    const started = await workflowsOf(created.body.id);
    expect(started).toHaveLength(10);
    for (const w of started) {
      expect(w.idempotency_key).toBe(`schedule:${created.body.id}:${w.tick.toISOString()}`);
      expect(w.tasks).toBe(2);
    }
    const ticks = started.map((w) => w.tick.getTime());
    for (let i = 1; i < ticks.length; i++)
      expect((ticks[i] as number) - (ticks[i - 1] as number)).toBe(60_000);
    // Nothing else was stored: no workflow outside the runs, no stray task.
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM ${db.s}.tasks t JOIN ${db.s}.workflows w ON w.id = t.workflow_id
       WHERE w.idempotency_key LIKE $1`,
      [`schedule:${created.body.id}:%`],
    );
    expect(rows[0].n).toBe(20);
    await call('DELETE', '/v1/schedules/wf-every-minute');
  });

  it('skips the tick of a stored workflow that no longer passes the checks, and fires the others', async () => {
    const good = await call('POST', '/v1/schedules', {
      name: 'wf-good',
      cron: '*/5 * * * *',
      workflow: FLOW,
    });
    const broken = await call('POST', '/v1/schedules', {
      name: 'wf-broken',
      cron: '*/5 * * * *',
      workflow: FLOW,
    });
    // As if a later release refused what an earlier one stored: a cycle.
    await db.pool.query(`UPDATE ${db.s}.schedules SET workflow = $2 WHERE id = $1`, [
      broken.body.id,
      JSON.stringify({
        tasks: [
          { key: 'a', command: 'x', depends_on: ['b'] },
          { key: 'b', command: 'x', depends_on: ['a'] },
        ],
      }),
    ]);
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const clock = fakeClock(new Date(Date.parse(good.body.next_run_at) + 1000));
    const ticker = new CronTicker(db, { logger, now: clock.now });
    expect(await ticker.tick()).toBe(1);
    expect(await workflowsOf(good.body.id)).toHaveLength(1);
    expect(await workflowsOf(broken.body.id)).toHaveLength(0);
    expect(warnings.join('')).toMatch(/"schedule":"wf-broken".*cron tick skipped/);
    // It moved on to its next tick, so it does not hold up the ticker.
    const after = (await call('GET', '/v1/schedules/wf-broken')).body;
    expect(Date.parse(after.next_run_at)).toBe(Date.parse(good.body.next_run_at) + 300_000);
  });
});
