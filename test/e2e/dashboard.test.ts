import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../src/store/tokens.js';
import { childEnv, startCoordinator, startScheduler, startWorker } from '../helpers/cluster.js';
import { useSchema } from '../helpers/db.js';
import { startTaskq, type TaskqProcess } from '../helpers/processes.js';
import {
  BROWSER_OFFSET,
  TestApi,
  UI_TIMEOUT,
  explainSkip,
  hasChromium,
  launchPage,
  openUi,
  screenshotDir,
  see as seeOn,
  startSdkWorker,
  until,
} from './browser-harness.js';

/**
 * The dashboard as a user sees it: a real coordinator (serving the built dashboard at /ui/),
 * a scheduler and workers as child processes, and Debian's Chromium driven by playwright-core.
 * Each test asserts what is on the page and what the API then says. The screenshots in
 * docs/screenshots are taken here, with real data on the pages (dashboard-actions.test.ts
 * covers the bulk actions, the submit form, schedule editing and the filters in depth).
 *
 * Needs /usr/bin/chromium (Debian package `chromium`); without it the file is skipped.
 */
explainSkip('dashboard e2e tests');

const SHOTS = screenshotDir();

const db = await useSchema();
let coordinator: { proc: TaskqProcess; grpcPort: number; httpPort: number };
let base = '';
let browser: Browser;
let page: Page;
/** The test's own API calls; they carry the admin token once the token test switches authentication on. */
let rest: TestApi;

/**
 * A handler that reports progress, step by step, and honours its abort signal: loaded by a
 * worker of the `images` queue, so the task page has a progress bar to show.
 */
function progressHandlers(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'taskq-dashboard-')), 'handlers.mjs');
  writeFileSync(
    file,
    `export default {
  resize: async (payload, ctx) => {
    for (let i = 1; i <= 20; i++) {
      ctx.progress(i * 5, 'step ' + i + ' of 20');
      await new Promise((resolve, reject) => {
        const t = setTimeout(resolve, payload?.stepMs ?? 1000);
        ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); }, { once: true });
      });
    }
    return { resized: ctx.args[0], width: payload?.width };
  },
};
`,
  );
  return file;
}

const api = (method: string, path: string, body?: unknown): Promise<any> =>
  rest.call(method, path, body);
const submit = (body: object): Promise<any> => rest.submit(body);
const getTask = (id: string): Promise<any> => rest.task(id);
const see = (text: string | RegExp, selector = 'body'): Promise<void> =>
  seeOn(page, text, selector);
const open = (path: string): Promise<void> => openUi(page, base, path);

/** Saves docs/screenshots/<name>.png: the whole page, or only the window for long lists. */
async function shot(name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage });
}

// Generous: the machine has two cores, and other test files run beside this one.
describe.skipIf(!hasChromium)('dashboard in a browser', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    coordinator = await startCoordinator(db.schema, { scope: 'file' });
    base = `http://127.0.0.1:${coordinator.httpPort}`;
    rest = new TestApi(base);
    await startWorker(db.schema, coordinator.grpcPort, {
      scope: 'file',
      name: 'worker-a',
      queue: 'default,reports',
      concurrency: 4,
    });
    ({ browser, page } = await launchPage());
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('serves the dashboard at /ui/ and redirects / there', async () => {
    const res = await fetch(`${base}/`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/ui/');
    const bare = await fetch(`${base}/ui`, { redirect: 'manual' });
    expect(bare.headers.get('location')).toBe('/ui/');
    // A missing bundle is a 404, not the app served under its name.
    expect((await fetch(`${base}/ui/assets/nope.js`)).status).toBe(404);
    await page.goto(`${base}/`);
    await see('Overview', 'h1');
    await see('Throughput');
    // A deep link is answered with the app too.
    await open('workers');
    await see('worker-a', 'table.workers');
  });

  it('shows a submitted task in the table and follows it to succeeded without a reload', async () => {
    await open('tasks');
    await see('Tasks', 'h1');
    await see('live', '.live-dot.on');
    await page.evaluate('window.__sameDocument = true');
    const task = await submit({ command: 'hold', payload: { ms: 1500 } });
    const row = `tr[data-task-id="${task.id}"]`;
    await page.locator(row).waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator(row).textContent()).toContain('hold');
    await page.locator(row, { hasText: 'succeeded' }).waitFor({ timeout: UI_TIMEOUT });
    expect((await getTask(task.id)).status).toBe('succeeded');
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
  });

  it('cancels a running task from its page', async () => {
    // `hold` ignores its abort signal: the worker finishes it later, and the result is dropped.
    const task = await submit({ command: 'hold', payload: { ms: 45_000 } });
    await until(
      'running',
      () => getTask(task.id),
      (t) => t.status === 'running',
    );
    await open(`tasks/${task.id}`);
    await see('running', '.detail-head');
    await see('running, no progress reported');
    await page.getByRole('button', { name: 'Cancel' }).click();
    const t = await until(
      'cancelled',
      () => getTask(task.id),
      (t) => t.status === 'cancelled',
    );
    expect(t.cancelled_at).not.toBeNull();
    await see('cancelled', '.detail-head');
    await see('cancelled', '.timeline');
    await page.getByRole('button', { name: 'Retry' }).waitFor({ timeout: UI_TIMEOUT });
  });

  it('finds a task by idempotency key, and runs a task scheduled for later now', async () => {
    const task = await submit({
      command: 'stamp',
      run_at: new Date(Date.now() + 3_600_000).toISOString(),
      idempotency_key: 'invoice-2291',
    });
    await open('tasks');
    await page.getByRole('searchbox', { name: 'Task id or idempotency key' }).fill('invoice-2291');
    await page.getByRole('button', { name: 'Open' }).click();
    await see(task.id, '.detail-head');
    await see('pending', '.detail-head');
    await page.getByRole('button', { name: 'Run now' }).click();
    const t = await until(
      'succeeded',
      () => getTask(task.id),
      (t) => t.status === 'succeeded',
    );
    expect(Date.parse(t.started_at)).toBeLessThan(Date.parse(task.run_at));
    await see('succeeded', '.detail-head');
    expect(await page.getByRole('button', { name: 'Run now' }).count()).toBe(0);
  });

  it('retries a dead task from its page, and it runs again as attempt 2', async () => {
    const task = await submit({
      command: 'fail',
      payload: { message: 'card declined' },
      max_attempts: 1,
    });
    await until(
      'dead',
      () => getTask(task.id),
      (t) => t.status === 'dead',
    );
    await open(`tasks/${task.id}`);
    await see('dead', '.detail-head');
    await see('card declined', '.card');
    await page.getByRole('button', { name: 'Retry' }).click();
    const again = await until(
      'attempt 2 finished',
      () => getTask(task.id),
      (t) => t.attempts.some((a: any) => a.attempt === 2),
    );
    expect(again.attempt).toBeGreaterThanOrEqual(2);
    expect(again.attempts[0]).toMatchObject({ attempt: 1, outcome: 'failed' });
    expect(again.attempts[1]).toMatchObject({
      attempt: 2,
      outcome: 'failed',
      error: 'card declined',
    });
    // The page follows the task live: the second attempt shows up without a reload.
    await page
      .locator('.card table tbody tr', { hasText: 'card declined' })
      .nth(1)
      .waitFor({ timeout: UI_TIMEOUT });
  });

  it('creates a schedule from the form, naming the bad field inline', async () => {
    await startScheduler(db.schema, 'file');
    await open('schedules');
    await see('No schedules yet');
    await page.locator('input[name="name"]').fill('nightly-report');
    await page.locator('input[name="cron"]').fill('every night');
    await page.locator('input[name="command"]').fill('stamp nightly');
    await page.locator('input[name="timezone"]').fill('Europe/Paris');
    await page.getByRole('button', { name: 'Create schedule' }).click();
    await see(/cron/i, 'label.invalid .field-error');
    expect((await api('GET', '/v1/schedules')).items).toEqual([]);
    await page.locator('input[name="cron"]').fill('30 2 * * *');
    await page.getByRole('button', { name: 'Create schedule' }).click();
    await see('nightly-report', 'table.schedules');
    const [s] = (await api('GET', '/v1/schedules')).items;
    expect(s).toMatchObject({
      name: 'nightly-report',
      cron: '30 2 * * *',
      timezone: 'Europe/Paris',
    });
    // A second schedule that ticks every 10 seconds, then trigger and pause from the page.
    await api('POST', '/v1/schedules', {
      name: 'heartbeat',
      cron: '*/10 * * * * *',
      command: 'stamp tick',
    });
    await see('heartbeat', 'table.schedules');
    const hb = page.locator('tr[data-schedule="heartbeat"]');
    await hb.getByRole('button', { name: 'Trigger' }).click();
    await see('Triggered heartbeat');
    await page
      .locator('tr[data-schedule="nightly-report"]')
      .getByRole('button', { name: 'Pause' })
      .click();
    await until(
      'paused',
      () => api('GET', '/v1/schedules/nightly-report'),
      (x) => x.paused === true,
    );
    await see('paused', 'tr[data-schedule="nightly-report"]');
  });

  it('pauses and resumes a queue from the queues page', async () => {
    // A queue is listed once it has settings or unfinished tasks.
    await api('PUT', '/v1/queues/reports', { concurrency_limit: 2, max_attempts: 5 });
    await open('queues');
    const row = page.locator('tr[data-queue="reports"]');
    await row.waitFor({ timeout: UI_TIMEOUT });
    await see('2 at once', 'tr[data-queue="reports"]');
    await row.getByRole('button', { name: 'Pause' }).click();
    await until(
      'paused',
      () => api('GET', '/v1/queues/reports'),
      (q) => q.paused === true,
    );
    await see('paused', 'tr[data-queue="reports"]');
    // Tasks of a paused queue wait, and the page shows them arrive.
    await submit({ command: 'stamp', queue: 'reports' });
    await submit({ command: 'stamp', queue: 'reports' });
    await see(/^2$/, 'tr[data-queue="reports"] td[data-col="due"]');
    await row.getByRole('button', { name: 'Resume' }).click();
    await until(
      'resumed',
      () => api('GET', '/v1/queues/reports'),
      (q) => q.paused === false,
    );
    await until(
      'drained',
      () => api('GET', '/v1/queues/reports'),
      (q) => q.due === 0,
    );
    await see(/^0$/, 'tr[data-queue="reports"] td[data-col="due"]');
  });

  it('takes a screenshot of every page, with real data on it', async () => {
    // A worker that comes and goes, so the workers page shows a disconnected one.
    const gone = await startWorker(db.schema, coordinator.grpcPort, {
      name: 'worker-b',
      queue: 'media',
    });
    await gone.proc.stop();
    await startWorker(db.schema, coordinator.grpcPort, {
      name: 'worker-images',
      queue: 'images',
      concurrency: 2,
      extra: ['--handlers', progressHandlers()],
    });
    // A worker built with the SDK, with labels, for the workers page.
    await startSdkWorker(coordinator.grpcPort, {
      name: 'worker-gpu',
      queues: ['render'],
      labels: { region: 'eu-west', pool: 'gpu' },
      abortDir: mkdtempSync(join(tmpdir(), 'taskq-aborts-')),
    });
    // Throughput: a spread of quick tasks, some failures, a few still running and waiting.
    const quick = Array.from({ length: 40 }, (_, i) => ({
      command: i % 9 === 0 ? 'fail' : 'stamp',
      queue: i % 3 === 0 ? 'reports' : 'default',
      max_attempts: 1,
    }));
    await api('POST', '/v1/tasks/batch', { tasks: quick });
    await submit({ command: 'hold', payload: { ms: 20_000 } });
    const resize = await submit({
      command: 'resize photo.png',
      queue: 'images',
      payload: { width: 800, stepMs: 1000 },
      idempotency_key: 'photo-42',
    });
    await submit({ command: 'transcode video.mp4', queue: 'media' });
    await submit({
      command: 'stamp later',
      run_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    await until(
      'tasks done',
      () => api('GET', '/v1/stats?window=300&bucket=5'),
      (s) => s.series.reduce((n: number, p: any) => n + p.succeeded, 0) >= 30,
    );

    await open('');
    await see('Throughput');
    // The depth-over-time chart appears after two polls.
    await page.locator('svg[aria-label="Due, scheduled and running tasks over time"]').waitFor({
      timeout: UI_TIMEOUT,
    });
    await page.locator('.kpi', { hasText: 'Failed attempts' }).waitFor({ timeout: UI_TIMEOUT });
    await shot('overview');

    await open('tasks');
    await see('stamp', 'table.tasks');
    await see('boom', 'table.tasks td.last-error');
    await shot('tasks', false);

    // Bulk retry of a dead task and a succeeded one: the answer says which was skipped, and why.
    await page.locator('table.tasks tbody tr.row-dead').first().getByRole('checkbox').check();
    await page.locator('table.tasks tbody tr.row-succeeded').first().getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Retry selected' }).click();
    await see('1 of these is not', 'dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Retry 2' }).click();
    await see('Retried 1 task.', 'dialog');
    await see('only dead or cancelled tasks can be retried', 'dialog');
    await shot('tasks-bulk', false);
    await page.getByRole('dialog').getByRole('button', { name: 'Close' }).last().click();

    // The submit form checks the payload as it is typed.
    await page.getByRole('button', { name: 'New task' }).click();
    await page.locator('dialog input[name="command"]').fill('resize banner.png');
    await page.locator('dialog input[name="queue"]').fill('images');
    await page.locator('dialog textarea[name="payload"]').fill('{"width": 1200,\n "crop": }');
    await see('payload is not valid JSON', 'dialog');
    await see(BROWSER_OFFSET, 'dialog');
    await shot('task-submit', false);
    await page.getByRole('dialog').getByRole('button', { name: 'Discard' }).click();

    // The task page follows the handler's progress events.
    await open(`tasks/${resize.id}`);
    await see('running', '.detail-head');
    await see(/step \d+ of 20/, '.progress-box');
    const before = await page.locator('.progress-text').textContent();
    await page
      .locator('.progress-text', { hasNotText: before ?? '' })
      .waitFor({ timeout: UI_TIMEOUT });
    await see('photo-42', '.fields');
    await shot('task-detail');

    // Limits and weights, so the queues page shows its rate limit and group weight columns.
    await api('PUT', '/v1/queues/reports', {
      rate_limit: { count: 10, period_ms: 1000 },
      key_rate_limit: { count: 2, period_ms: 60_000 },
      group_weights: { gold: 3, free: 1 },
    });
    await open('queues');
    await see('media', 'table.queues');
    await see('gold', 'tr[data-queue="reports"]');
    await shot('queues');

    await open('workers');
    await see('disconnected', 'tr[data-worker="worker-b"]');
    await see('live', 'tr[data-worker="worker-a"]');
    await see('region=eu-west', 'tr[data-worker="worker-gpu"]');
    await shot('workers');

    await open('schedules');
    await see('heartbeat', 'table.schedules');
    await shot('schedules');

    // A schedule's page: its next runs in its own zone (Paris) and the browser's.
    await api('POST', '/v1/schedules/nightly-report/resume');
    await open('schedules');
    await page.getByRole('link', { name: 'nightly-report' }).click();
    await see('Europe/Paris', '.schedule-next-runs');
    await see(`${BROWSER_OFFSET} here`, '.schedule-next-runs');
    await shot('schedule-detail');
    // Let the images worker stop at once: its handler honours the abort.
    await api('POST', `/v1/tasks/${resize.id}/cancel`);
  });

  it('asks for a token once tokens exist, and says when its role cannot act', async () => {
    rest.token = (await createToken(db, { name: 'ui-admin', role: 'admin' })).token;
    const reader = (await createToken(db, { name: 'ui-reader', role: 'read' })).token;
    // The server caches "are tokens in use" for up to 2 s.
    await until(
      'auth on',
      () => fetch(`${base}/v1/queues`).then((r) => r.status),
      (s) => s === 401,
    );
    await open('queues');
    await see('Sign in', 'h1');
    const signOut = page.getByRole('button', { name: 'Sign out' });
    expect(await signOut.count()).toBe(0);
    await page.locator('input[name="token"]').fill('tq_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await see('The token was refused');
    // Nobody is signed in: the refused token is forgotten, and no "Sign out" is offered.
    expect(await signOut.count()).toBe(0);
    expect(await page.evaluate("localStorage.getItem('taskq.token')")).toBeNull();
    await page.locator('input[name="token"]').fill(reader);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const row = page.locator('tr[data-queue="reports"]');
    await row.waitFor({ timeout: UI_TIMEOUT });
    await signOut.waitFor({ timeout: UI_TIMEOUT });
    await row.getByRole('button', { name: 'Pause' }).click();
    await see("Your token's role cannot do this.", 'tr[data-queue="reports"]');
    expect((await api('GET', '/v1/queues/reports')).paused).toBe(false);
    // The token is kept: a reload needs no new sign-in, and the tasks table still follows
    // new tasks (over the event stream, or by polling while the stream is refused).
    await page.reload();
    await row.waitFor({ timeout: UI_TIMEOUT });
    await open('tasks');
    await see('Tasks', 'h1');
    const t = await submit({ command: 'stamp', queue: 'reports' });
    await page
      .locator(`tr[data-task-id="${t.id}"]`, { hasText: 'succeeded' })
      .waitFor({ timeout: UI_TIMEOUT });
    // A token revoked while it is in use: the next answer is a 401, the page asks for a
    // token again, and "Sign out" goes away with the token.
    await revokeToken(db, 'ui-reader');
    await see('Sign in', 'h1');
    await see('The token was refused');
    expect(await signOut.count()).toBe(0);
    expect(await page.evaluate("localStorage.getItem('taskq.token')")).toBeNull();
    await page.locator('input[name="token"]').fill(rest.token ?? '');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await see('Tasks', 'h1');
    await signOut.waitFor({ timeout: UI_TIMEOUT });
  });

  it('shows a banner while the API is unreachable, and recovers when it is back', async () => {
    await open('workers');
    await see('worker-a', 'table.workers');
    const port = coordinator.httpPort;
    await coordinator.proc.stop();
    await see('The API cannot be reached', '.banner');
    const again = startTaskq(
      'coordinator-again',
      ['coordinator', '--grpc-port', '0', '--http-port', String(port)],
      childEnv(db.schema),
    );
    await again.waitForMsg('coordinator started');
    await page.locator('.banner').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    await see('worker-a', 'table.workers');
  });
});
