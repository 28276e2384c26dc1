import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinator, startWorker } from '../helpers/cluster.js';
import { useSchema } from '../helpers/db.js';
import {
  BROWSER_OFFSET,
  TestApi,
  UI_TIMEOUT,
  explainSkip,
  hasChromium,
  launchPage,
  openUi,
  see as seeOn,
  startSdkWorker,
  until,
} from './browser-harness.js';

/**
 * The dashboard's controls that act: bulk retry and cancel (by selection and by filter),
 * submitting a task, the server-side filters and their totals, editing and deleting a
 * schedule, a worker's labels and tasks, and times with their zones. A real coordinator and
 * workers run as child processes; Chromium runs in Asia/Kolkata (UTC+5:30). Each test
 * asserts what the page shows and what the API then says.
 */
explainSkip('dashboard action e2e tests');

const db = await useSchema();
let base = '';
let rest: TestApi;
let browser: Browser;
let page: Page;
let sdkWorker: { workerId: string };
/** Where the SDK worker's `block` handler says it was aborted, one file per task. */
const abortDir = mkdtempSync(join(tmpdir(), 'taskq-aborts-'));

const see = (text: string | RegExp, selector = 'body'): Promise<void> =>
  seeOn(page, text, selector);
const open = (path: string): Promise<void> => openUi(page, base, path);
const dialog = () => page.getByRole('dialog');

/** Submits `n` tasks that fail once and for all, and waits until they are dead. */
async function deadTasks(queue: string, n: number): Promise<string[]> {
  const { items } = await rest.call('POST', '/v1/tasks/batch', {
    tasks: Array.from({ length: n }, (_, i) => ({
      command: 'fail',
      queue,
      payload: { message: `declined ${i}` },
      max_attempts: 1,
    })),
  });
  const ids = (items as Array<{ id: string }>).map((i) => i.id);
  await until(
    'dead',
    () => Promise.all(ids.map((id) => rest.task(id))),
    (ts) => ts.every((t) => t.status === 'dead'),
  );
  return ids;
}

/** The total the tasks page shows, as its data attribute has it. */
async function shownTotal(): Promise<string | null> {
  return page.locator('.list-summary .total').getAttribute('data-total');
}

describe.skipIf(!hasChromium)('dashboard actions in a browser', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    const coordinator = await startCoordinator(db.schema, { scope: 'file' });
    base = `http://127.0.0.1:${coordinator.httpPort}`;
    rest = new TestApi(base);
    await startWorker(db.schema, coordinator.grpcPort, {
      scope: 'file',
      name: 'worker-cli',
      queue: 'default,bulk-sel,bulk-all,far',
      concurrency: 4,
    });
    sdkWorker = await startSdkWorker(coordinator.grpcPort, {
      name: 'worker-labelled',
      queues: ['labelled'],
      labels: { region: 'eu-west', pool: 'gpu' },
      abortDir,
    });
    ({ browser, page } = await launchPage());
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('submits a task from the form: the payload is checked as typed, API errors show on their field', async () => {
    await open('tasks');
    await page.getByRole('button', { name: 'New task' }).click();
    const form = dialog();
    await form.locator('input[name="command"]').fill('stamp from-the-form');
    await form.locator('input[name="queue"]').fill('default');
    // The run-at field says which zone its wall-clock time is in.
    await see(`Run at (`, 'dialog label');
    await see(BROWSER_OFFSET, 'dialog label');
    await form.locator('textarea[name="payload"]').fill('{"width": 800,');
    await see('payload is not valid JSON', 'dialog .field-error');
    expect(await form.getByRole('button', { name: 'Submit task' }).isDisabled()).toBe(true);
    await form.locator('textarea[name="payload"]').fill('{"width": 800}');
    await see('valid JSON', 'dialog .hint');
    // The API's own rule, under the field it names.
    await form.locator('input[name="priority"]').fill('1.5');
    await form.getByRole('button', { name: 'Submit task' }).click();
    await see('priority must be an integer', 'dialog label.invalid .field-error');
    const before = await rest.call('GET', '/v1/tasks?command=stamp%20from-the-form');
    expect(before.total).toBe(0);
    await form.locator('input[name="priority"]').fill('5');
    // Tomorrow at 09:30 in the browser's zone (Asia/Kolkata): 04:00 UTC.
    const tomorrow = new Date(Date.now() + 86_400_000);
    const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Kolkata' }).format(tomorrow);
    await form.locator('input[name="run_at"]').fill(`${day}T09:30`);
    await form.locator('input[name="max_attempts"]').fill('2');
    await form.getByRole('button', { name: 'Submit task' }).click();
    // It opens the new task's page.
    await see('stamp from-the-form', '.detail-head');
    const id = page.url().split('/').pop() as string;
    const task = await rest.task(id);
    expect(task).toMatchObject({
      command: 'stamp from-the-form',
      queue: 'default',
      priority: 5,
      max_attempts: 2,
      payload: { width: 800 },
      status: 'pending',
      run_at: `${day}T04:00:00.000Z`,
    });
    // Its times are shown with the browser's zone, and UTC in the tooltip.
    await see(`${day} 09:30:00.000 ${BROWSER_OFFSET}`, '.timeline');
    const title = await page.locator('.timeline time').first().getAttribute('title');
    expect(title).toMatch(/UTC\+5:30 \(Asia\/(Kolkata|Calcutta)\)\n.* UTC$/);
  });

  it('filters on the server, finds a task beyond the loaded page, and counts the matches', async () => {
    const needle = await rest.submit({ command: 'stamp needle-42', queue: 'far' });
    await rest.call('POST', '/v1/tasks/batch', {
      tasks: Array.from({ length: 60 }, () => ({ command: 'stamp hay', queue: 'far' })),
    });
    await open('tasks');
    await see('stamp hay', 'table.tasks');
    // The needle is older than the first page of 50.
    expect(await page.locator(`tr[data-task-id="${needle.id}"]`).count()).toBe(0);
    const all = await rest.call('GET', '/v1/tasks?limit=1');
    await until('total shown', shownTotal, (t) => Number(t) >= 61);
    expect(Number(await shownTotal())).toBeGreaterThanOrEqual(all.total);

    await page.getByRole('searchbox').nth(1).fill('stamp needle-42');
    await page.getByRole('searchbox').nth(1).press('Enter');
    await page.locator(`tr[data-task-id="${needle.id}"]`).waitFor({ timeout: UI_TIMEOUT });
    await see('1 task match', '.list-summary');
    expect(page.url()).toContain('command=stamp+needle-42');

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.locator('label', { hasText: 'Queue' }).locator('select').selectOption('far');
    await see('61 tasks match', '.list-summary');
    expect((await rest.call('GET', '/v1/tasks?queue=far&limit=1')).total).toBe(61);

    // A created window that ends before it starts: the API's error under the field it names.
    await page.locator('label', { hasText: 'Created' }).locator('select').selectOption('custom');
    const hourAgo = new Date(Date.now() - 3_600_000);
    const local = (d: Date): string =>
      new Intl.DateTimeFormat('sv-SE', {
        timeZone: 'Asia/Kolkata',
        dateStyle: 'short',
        timeStyle: 'short',
      })
        .format(d)
        .replace(' ', 'T');
    await page
      .locator('input[name="created_before"]')
      .fill(local(new Date(hourAgo.getTime() - 3_600_000)));
    await see('created_before must be later than created_after', 'label.invalid .field-error');
    // A window of the last hour holds them all; one that ended an hour ago, none.
    await page
      .locator('input[name="created_before"]')
      .fill(local(new Date(Date.now() + 3_600_000)));
    await see('61 tasks match', '.list-summary');
    await page
      .locator('input[name="created_after"]')
      .fill(local(new Date(hourAgo.getTime() - 3_600_000)));
    await page.locator('input[name="created_before"]').fill(local(hourAgo));
    await see('No task matches these filters');
    await see('0 tasks match', '.list-summary');
  });

  it('retries a selection after a confirmation with the count, and says what it skipped and why', async () => {
    const dead = await deadTasks('bulk-sel', 2);
    const ok = await rest.submit({ command: 'stamp', queue: 'bulk-sel' });
    await until(
      'succeeded',
      () => rest.task(ok.id),
      (t) => t.status === 'succeeded',
    );
    await open('tasks?queue=bulk-sel');
    await see('3 tasks match', '.list-summary');
    // The last error is in its column.
    await see('declined 1', `tr[data-task-id="${dead[1]}"] td.last-error`);
    await page.getByRole('checkbox', { name: 'Select every task on this page' }).check();
    await see('3 selected', '.bulk-bar');
    await page.getByRole('button', { name: 'Retry selected' }).click();
    await see('Retry 3 selected tasks?', 'dialog');
    await see('1 of these is not, and will be skipped', 'dialog');
    // Going back changes nothing.
    await dialog().getByRole('button', { name: 'Go back' }).click();
    expect((await rest.task(dead[0] as string)).status).toBe('dead');
    await page.getByRole('button', { name: 'Retry selected' }).click();
    await dialog().getByRole('button', { name: 'Retry 3' }).click();
    await see('Retried 2 tasks.', 'dialog');
    await see('Skipped 1', 'dialog');
    await see('1 is succeeded; only dead or cancelled tasks can be retried', 'dialog');
    // They ran again, as attempt 2 (and failed again: the handler always fails).
    for (const id of dead) {
      const t = await until(
        'attempt 2',
        () => rest.task(id),
        (x) => x.attempts.length === 2,
      );
      expect(t.attempts.map((a: any) => a.outcome)).toEqual(['failed', 'failed']);
    }
    expect((await rest.task(ok.id)).attempt).toBe(1);
    await dialog().getByRole('button', { name: 'Close' }).last().click();
    // The selection is cleared once the action is done.
    await page.locator('.bulk-bar', { hasText: 'selected' }).waitFor({ state: 'detached' });
  });

  it('retries every dead task of a queue from its filter, and the list then shows none', async () => {
    // Twelve: more rows change than the list patches one by one, so it reloads under the dialog.
    await deadTasks('bulk-all', 12);
    // Paused, so the retried tasks wait as pending where the test can count them.
    await rest.call('POST', '/v1/queues/bulk-all/pause');
    await open('tasks?queue=bulk-all&status=dead');
    await see('12 tasks match', '.list-summary');
    await page.getByRole('button', { name: 'Retry all 12 dead in bulk-all' }).click();
    await see('Retry all 12 dead tasks of queue bulk-all?', 'dialog');
    await dialog().getByRole('button', { name: 'Retry 12' }).click();
    await see('Retried 12 tasks.', 'dialog');
    // The list behind has reloaded (no dead task left), and the answer is still shown.
    await see('0 tasks match', '.list-summary');
    await see('Retried 12 tasks.', 'dialog');
    await see('None skipped.', 'dialog');
    await dialog().getByRole('button', { name: 'Close' }).last().click();
    await see('No task matches these filters');
    const pending = await rest.call('GET', '/v1/tasks?queue=bulk-all&status=pending&limit=1');
    expect(pending.total).toBe(12);
    expect((await rest.call('GET', '/v1/tasks?queue=bulk-all&status=dead&limit=1')).total).toBe(0);
    await rest.call('POST', '/v1/queues/bulk-all/resume');
  });

  it('cancels a selection: a running handler is aborted, a pending task is cancelled', async () => {
    const running = await rest.submit({ command: 'block', queue: 'labelled' });
    await until(
      'running',
      () => rest.task(running.id),
      (t) => t.status === 'running',
    );
    const later = await rest.submit({
      command: 'stamp',
      queue: 'labelled',
      run_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    await open('tasks?queue=labelled');
    await page.getByRole('checkbox', { name: `Select task ${running.id}` }).check();
    await page.getByRole('checkbox', { name: `Select task ${later.id}` }).check();
    await page.getByRole('button', { name: 'Cancel selected' }).click();
    await see('Cancel 2 selected tasks?', 'dialog');
    await see('Running handlers are aborted.', 'dialog');
    await dialog().getByRole('button', { name: 'Cancel 2' }).click();
    await see('Cancelled 2 tasks.', 'dialog');
    await until(
      'aborted',
      () => Promise.resolve(existsSync(join(abortDir, running.id))),
      Boolean,
      15_000,
    );
    expect(readFileSync(join(abortDir, running.id), 'utf8')).toBe('cancelled');
    const t = await rest.task(running.id);
    expect(t.status).toBe('cancelled');
    expect(t.attempts.map((a: any) => [a.outcome, a.error])).toEqual([
      ['cancelled', 'cancelled by request'],
    ]);
    expect((await rest.task(later.id)).status).toBe('cancelled');
    await dialog().getByRole('button', { name: 'Close' }).last().click();
    await see('cancelled', `tr[data-task-id="${running.id}"]`);
  });

  it("sets a queue's rate limits and group weights from its form, and shows them; a bad value shows on its field", async () => {
    await rest.call('PUT', '/v1/queues/limited', { concurrency_limit: 4 });
    await open('queues');
    const row = page.locator('tr[data-queue="limited"]');
    await row.waitFor({ timeout: UI_TIMEOUT });
    await see('4 at once', 'tr[data-queue="limited"] [data-col="concurrency"]');
    expect(await row.locator('[data-col="rate-limit"]').count()).toBe(0);
    await row.getByRole('button', { name: 'Limits' }).click();
    const form = dialog();
    // The current settings are filled in.
    expect(await form.locator('input[name="concurrency_limit"]').inputValue()).toBe('4');
    await form.locator('input[name="rate_count"]').fill('10');
    await form.locator('input[name="rate_period_ms"]').fill('1000');
    await form.locator('input[name="key_rate_count"]').fill('2');
    await form.locator('input[name="key_rate_period_ms"]').fill('60000');
    await form.locator('input[name="group_weights"]').fill('gold=0');
    await form.getByRole('button', { name: 'Save' }).click();
    // The API's rule, under the setting it names; nothing was changed.
    await see('group_weights.gold must be >= 1', 'dialog label.invalid .field-error');
    expect(await rest.call('GET', '/v1/queues/limited')).toMatchObject({
      rate_limit: null,
      group_weights: null,
    });
    await form.locator('input[name="group_weights"]').fill('gold=3, free=1');
    await form.getByRole('button', { name: 'Save' }).click();
    await dialog().waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    expect(await rest.call('GET', '/v1/queues/limited')).toMatchObject({
      concurrency_limit: 4,
      rate_limit: { count: 10, period_ms: 1000 },
      key_rate_limit: { count: 2, period_ms: 60_000 },
      group_weights: { gold: 3, free: 1 },
    });
    await see(
      '10 per second, 2 per minute per key',
      'tr[data-queue="limited"] [data-col="rate-limit"]',
    );
    await see('free=1, gold=3', 'tr[data-queue="limited"] [data-col="group-weights"]');
    // An emptied field lifts its setting.
    await row.getByRole('button', { name: 'Limits' }).click();
    await dialog().locator('input[name="rate_count"]').fill('');
    await dialog().locator('input[name="rate_period_ms"]').fill('');
    await dialog().getByRole('button', { name: 'Save' }).click();
    await see(/^2 per minute per key$/, 'tr[data-queue="limited"] [data-col="rate-limit"]');
    expect(await rest.call('GET', '/v1/queues/limited')).toMatchObject({
      rate_limit: null,
      key_rate_limit: { count: 2 },
    });
  });

  it("shows a task's requires, rate key, group and sticky key, and why it waits", async () => {
    const task = await rest.submit({
      command: 'stamp',
      queue: 'routed',
      requires: { gpu: 'true', region: 'eu' },
      rate_key: 'acct-7',
      group: 'acme',
      sticky_key: 'cart-5',
    });
    await open(`tasks/${task.id as string}`);
    await see('gpu=true', '[data-field="requires"]');
    await see('region=eu', '[data-field="requires"]');
    await see('acct-7', 'dl.fields');
    await see('acme', 'dl.fields');
    await see('cart-5', 'dl.fields');
    await see(
      "no connected worker handles 'stamp' on queue 'routed' with labels gpu=true, region=eu",
      '[data-field="waiting-for"]',
    );
    await open('tasks?queue=routed');
    await see('· acme', 'table');
  });

  it("shows a worker's labels and version, and its recent tasks", async () => {
    const mine = await rest.submit({ command: 'stamp', queue: 'labelled' });
    await until(
      'done',
      () => rest.task(mine.id),
      (t) => t.status === 'succeeded',
    );
    await open('workers');
    const row = page.locator('tr[data-worker="worker-labelled"]');
    await row.waitFor({ timeout: UI_TIMEOUT });
    await see('region=eu-west', 'tr[data-worker="worker-labelled"] td[data-col="labels"]');
    await see('pool=gpu', 'tr[data-worker="worker-labelled"] td[data-col="labels"]');
    const workers = await rest.call('GET', '/v1/workers');
    const info = workers.items.find((w: any) => w.name === 'worker-labelled');
    expect(info.id).toBe(sdkWorker.workerId);
    await see(info.version, 'tr[data-worker="worker-labelled"] td[data-col="version"]');
    await row.getByRole('link', { name: 'Recent tasks' }).click();
    await see('worker: worker-labelled', '.filters');
    await page.locator(`tr[data-task-id="${mine.id}"]`).waitFor({ timeout: UI_TIMEOUT });
    const api = await rest.call('GET', `/v1/tasks?worker=${sdkWorker.workerId}&limit=1`);
    await see(`${api.total} task`, '.list-summary');
    // Only its tasks: none of the CLI worker's.
    expect(await page.locator('table.tasks td', { hasText: 'fail' }).count()).toBe(0);
  });

  it("edits and deletes a schedule from its page, showing its next runs in its zone and the browser's", async () => {
    const s = await rest.call('POST', '/v1/schedules', {
      name: 'paris-morning',
      cron: '0 8 * * *',
      timezone: 'Europe/Paris',
      command: 'stamp morning',
    });
    await open('schedules');
    await page.getByRole('link', { name: 'paris-morning' }).click();
    await see('Schedule paris-morning', 'h1');
    // 08:00 in Paris is 12:30 or 11:30 in Kolkata, winter or summer.
    await see(/08:00:00 UTC\+[12] Europe\/Paris/, '.schedule-next-runs');
    await see(/1[12]:30:00 UTC\+5:30 here/, '.schedule-next-runs');

    await page.getByRole('button', { name: 'Edit' }).click();
    await page.locator('input[name="cron"]').fill('30 9 * * 1-5');
    await page.locator('input[name="timezone"]').fill('Mars/Olympus');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await see(/timezone/i, 'label.invalid .field-error');
    expect((await rest.call('GET', `/v1/schedules/${s.id}`)).cron).toBe('0 8 * * *');
    await page.locator('input[name="timezone"]').fill('America/New_York');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await see(/09:30:00 UTC-[45] America\/New_York/, '.schedule-next-runs');
    const changed = await rest.call('GET', `/v1/schedules/${s.id}`);
    expect(changed).toMatchObject({ cron: '30 9 * * 1-5', timezone: 'America/New_York' });
    expect(changed.command).toBe('stamp morning');

    await page.getByRole('button', { name: 'Delete' }).click();
    await see('Delete paris-morning?', 'dialog');
    await dialog().getByRole('button', { name: 'Delete' }).click();
    await see('Deleted paris-morning.', 'dialog');
    await dialog().getByRole('button', { name: 'Close' }).last().click();
    await see('Schedules', 'h1');
    const gone = await fetch(`${base}/v1/schedules/${s.id}`);
    expect(gone.status).toBe(404);
  });
});
