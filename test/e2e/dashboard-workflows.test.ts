import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinator, startWorker } from '../helpers/cluster.js';
import { useSchema } from '../helpers/db.js';
import {
  BROWSER_OFFSET,
  TestApi,
  UI_TIMEOUT,
  explainSkip,
  handlersModule,
  hasChromium,
  launchPage,
  openUi,
  screenshotDir,
  see as seeOn,
  startSdkWorker,
  until,
} from './browser-harness.js';

/**
 * The dashboard's workflow pages as a user sees them: the list, a workflow's graph coloured
 * by status and updated live, its nodes as links to their tasks, a handler's children grouped
 * under it, a large graph folded, and Cancel. A real coordinator and workers run as child
 * processes; Chromium runs in Asia/Kolkata (UTC+5:30). Each test asserts what the page shows
 * and what the API then says. Takes workflows.png and workflow-graph.png.
 */
explainSkip('dashboard workflow e2e tests');

const SHOTS = screenshotDir();

const db = await useSchema();
let grpcPort = 0;
let base = '';
let rest: TestApi;
let browser: Browser;
let page: Page;
/** Where the SDK worker's `block` handler says it was aborted, one file per task. */
const abortDir = mkdtempSync(join(tmpdir(), 'taskq-wf-aborts-'));

const see = (text: string | RegExp, selector = 'body'): Promise<void> =>
  seeOn(page, text, selector);
const open = (path: string): Promise<void> => openUi(page, base, path);
const workflow = (id: string): Promise<any> => rest.call('GET', `/v1/workflows/${id}`);

/** `fanout` spawns `n` children running `hold` for `ms`, waits for them, then counts them. */
const FANOUT = handlersModule(`export default {
  fanout: (payload, ctx) => {
    if (ctx.children) return { children: ctx.children.length };
    ctx.spawn(Array.from({ length: payload.n }, (_, i) => ({
      command: 'hold',
      queue: payload.queue,
      key: payload.prefix + '-' + (i + 1),
      payload: { ms: payload.ms },
    })));
    return ctx.waitFor();
  },
};
`);

/** A task of a workflow that runs the fixture's `hold` for `ms`. */
const holdTask = (key: string, queue: string, ms: number, dependsOn: string[]) => ({
  key,
  command: 'hold',
  queue,
  payload: { ms },
  depends_on: dependsOn,
});

/** A node of the graph on the page, by its key. */
const node = (key: string): Locator => page.locator(`svg.workflow-graph a.node[data-key="${key}"]`);

/** Waits until the node of `key` shows `status`. */
async function nodeIs(key: string, status: string): Promise<void> {
  await page
    .locator(`svg.workflow-graph a.node[data-key="${key}"][data-status="${status}"]`)
    .waitFor({ timeout: UI_TIMEOUT });
}

/** A property of an element's computed style: what the browser paints. */
const styleOf = (l: Locator, property: string): Promise<string> =>
  l.evaluate((el, p) => (globalThis as any).getComputedStyle(el)[p] as string, property);

/** The colour a node is filled with. */
const fillOf = (key: string): Promise<string> => styleOf(node(key).locator('rect'), 'fill');

/** The colour the legend gives a status. */
const legendColour = (status: string): Promise<string> =>
  styleOf(page.locator(`.graph-legend li[data-status="${status}"] i`), 'backgroundColor');

/** Where a node is drawn, in the SVG's coordinates. */
async function boxOf(key: string): Promise<{ x: number; y: number }> {
  const r = node(key).locator('rect').first();
  return { x: Number(await r.getAttribute('x')), y: Number(await r.getAttribute('y')) };
}

async function shot(name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage });
}

const ids: Record<string, string> = {};

describe.skipIf(!hasChromium)('workflow pages in a browser', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    const coordinator = await startCoordinator(db.schema, { scope: 'file' });
    grpcPort = coordinator.grpcPort;
    base = `http://127.0.0.1:${coordinator.httpPort}`;
    rest = new TestApi(base);
    ({ browser, page } = await launchPage());
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('draws a diamond coloured by status, follows it live to succeeded, and opens a task from a node', async () => {
    // No worker serves the queue yet: the graph waits, pending and blocked.
    const wf = await rest.call('POST', '/v1/workflows', {
      name: 'publish photo-42',
      tasks: [
        { key: 'fetch', command: 'stamp fetch', queue: 'wf-ui' },
        holdTask('small', 'wf-ui', 300, ['fetch']),
        holdTask('large', 'wf-ui', 600, ['fetch']),
        {
          key: 'publish',
          command: 'stamp publish',
          queue: 'wf-ui',
          depends_on: ['small', 'large'],
        },
      ],
      on_failure: { command: 'stamp alert', queue: 'wf-ui' },
    });
    ids.diamond = wf.id;
    await open(`workflows/${wf.id}`);
    await see('publish photo-42', '.detail-head');
    await see('running', '.detail-head');
    await page.evaluate('window.__sameDocument = true');
    await nodeIs('fetch', 'pending');
    for (const key of ['small', 'large', 'publish']) await nodeIs(key, 'blocked');
    expect(await fillOf('fetch')).toBe(await legendColour('pending'));
    expect(await fillOf('publish')).toBe(await legendColour('blocked'));
    expect(await legendColour('pending')).not.toBe(await legendColour('blocked'));
    await see('blocked 4', '.graph-legend');
    // Layers by depth, left to right: fetch, then small and large side by side, then publish.
    const at = Object.fromEntries(
      await Promise.all(
        ['fetch', 'small', 'large', 'publish', '$on_failure'].map(
          async (k) => [k, await boxOf(k)] as const,
        ),
      ),
    );
    expect(at.fetch!.x).toBeLessThan(at.small!.x);
    expect(at.small!.x).toBe(at.large!.x);
    expect(at.small!.y).not.toBe(at.large!.y);
    expect(at.large!.x).toBeLessThan(at.publish!.x);
    // on_failure stands apart, right of the graph, with no arrow into it.
    expect(at.$on_failure!.x).toBeGreaterThan(at.publish!.x);
    await see('runs only if a task fails', 'svg.workflow-graph');
    expect(await page.locator('svg.workflow-graph path.edge').count()).toBe(4);

    await startWorker(db.schema, grpcPort, { scope: 'file', name: 'wf-worker', queue: 'wf-ui' });
    for (const key of ['fetch', 'small', 'large', 'publish']) await nodeIs(key, 'succeeded');
    expect(await fillOf('publish')).toBe(await legendColour('succeeded'));
    await see('succeeded', '.detail-head .badge');
    // The on_failure task was not needed.
    await nodeIs('$on_failure', 'cancelled');
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    const done = await workflow(wf.id);
    expect(done.status).toBe('succeeded');

    // A node is a link to its task, whose page links back to the workflow.
    const small = done.tasks.find((t: any) => t.key === 'small');
    await node('small').click();
    await page.waitForURL(`**/ui/tasks/${small.task_id}`);
    await see(small.task_id, '.detail-head');
    await see('Part of workflow publish photo-42', '.workflow-of-task');
    await see('small', '.workflow-of-task code');
    expect((await rest.task(small.task_id)).status).toBe('succeeded');
    await page.locator('.workflow-of-task').getByRole('link', { name: 'publish photo-42' }).click();
    await page.waitForURL(`**/ui/workflows/${wf.id}`);
    await nodeIs('small', 'succeeded');
  });

  it("groups a handler's children under it, live, and folds a large graph", async () => {
    await startWorker(db.schema, grpcPort, {
      scope: 'file',
      name: 'wf-fan-worker',
      queue: 'wf-fan',
      concurrency: 4,
      extra: ['--handlers', FANOUT],
    });
    const fan = (n: number, prefix: string, ms: number) => ({ n, prefix, ms, queue: 'wf-fan' });
    const wf = await rest.call('POST', '/v1/workflows', {
      name: 'monthly invoices',
      tasks: [
        { key: 'fetch', command: 'stamp', queue: 'wf-fan' },
        holdTask('rates', 'wf-fan', 200, ['fetch']),
        holdTask('customers', 'wf-fan', 300, ['fetch']),
        {
          key: 'invoice-run',
          command: 'fanout',
          queue: 'wf-fan',
          payload: fan(24, 'customer', 1200),
          depends_on: ['customers'],
        },
        {
          key: 'notify',
          command: 'fanout',
          queue: 'wf-fan',
          payload: fan(3, 'channel', 2500),
          depends_on: ['rates', 'customers'],
        },
        { key: 'report', command: 'stamp', queue: 'wf-fan', depends_on: ['invoice-run', 'notify'] },
      ],
      on_failure: { command: 'stamp alert', queue: 'wf-fan' },
    });
    ids.invoices = wf.id;
    await open(`workflows/${wf.id}`);
    // 24 children: summed up in one box under invoice-run; 3 children: drawn one by one.
    const many = page.locator('svg.workflow-graph g.group-children[data-count="24"]');
    await many.waitFor({ timeout: UI_TIMEOUT });
    await nodeIs('invoice-run', 'waiting');
    expect(await fillOf('invoice-run')).toBe(await legendColour('waiting'));
    await see('24 children of invoice-run', 'svg.workflow-graph');
    await page
      .locator('svg.workflow-graph g.group-children.open[data-count="3"]')
      .waitFor({ timeout: UI_TIMEOUT });
    // The summary follows the children live: some done, some running.
    await many
      .filter({ hasText: /\d+ running/ })
      .filter({ hasText: /\d+ succeeded/ })
      .waitFor({ timeout: UI_TIMEOUT });
    await shot('workflow-graph');

    await nodeIs('report', 'succeeded');
    await nodeIs('channel-3', 'succeeded');
    await see('24 children of invoice-run: 24 succeeded', 'svg.workflow-graph');
    // A folded group opens on demand, and each child is then a node of its own.
    await page.getByRole('button', { name: 'Show 24 children of invoice-run one by one' }).click();
    await nodeIs('customer-24', 'succeeded');
    const done = await workflow(wf.id);
    expect(done.status).toBe('succeeded');
    const parent = done.tasks.find((t: any) => t.key === 'invoice-run');
    expect(done.tasks.filter((t: any) => t.parent_task_id === parent.task_id)).toHaveLength(24);

    // 302 tasks: the 300 alike in the middle are one box; every task is in the table.
    const middle = Array.from({ length: 300 }, (_, i) => ({
      key: `m${i}`,
      command: 'stamp',
      queue: 'wf-idle',
      depends_on: ['root'],
    }));
    const big = await rest.call('POST', '/v1/workflows', {
      name: 'fan-in of 300',
      tasks: [
        { key: 'root', command: 'stamp', queue: 'wf-idle' },
        ...middle,
        { key: 'join', command: 'stamp', queue: 'wf-idle', depends_on: middle.map((m) => m.key) },
      ],
    });
    ids.big = big.id;
    await open(`workflows/${big.id}`);
    await see('300 tasks m0 … m299', 'svg.workflow-graph g.group-alike');
    await see('302 tasks: 300 of them are summed up', '.graph-note');
    expect(await page.locator('svg.workflow-graph a.node').count()).toBe(2);
    expect(await page.locator('svg.workflow-graph path.edge').count()).toBe(2);
    await see('rows 1–100 of 302', '.table-pages');
    expect(await page.locator('table.workflow-tasks tbody tr').count()).toBe(100);
    await page.locator('select[name="node-status"]').selectOption('blocked');
    await see('rows 1–100 of 301', '.table-pages');
    expect((await workflow(big.id)).counts).toEqual({ pending: 1, blocked: 301 });
  });

  it('cancels a workflow from its page after asking; the running handler is aborted', async () => {
    await startSdkWorker(grpcPort, {
      name: 'wf-blocker',
      queues: ['wf-block'],
      labels: {},
      abortDir,
    });
    const wf = await rest.call('POST', '/v1/workflows', {
      name: 'nightly export',
      tasks: [
        { key: 'export', command: 'block', queue: 'wf-block' },
        { key: 'upload', command: 'stamp', queue: 'wf-block', depends_on: ['export'] },
      ],
      on_failure: { command: 'stamp', queue: 'wf-block' },
    });
    ids.cancelled = wf.id;
    await until(
      'export running',
      () => workflow(wf.id),
      (w) => w.tasks.find((t: any) => t.key === 'export').status === 'running',
    );
    await open(`workflows/${wf.id}`);
    await nodeIs('export', 'running');
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await see('Cancel nightly export? Its 3 tasks that have not ended', 'dialog');
    await see('the 1 running handler is aborted', 'dialog');
    await dialog.getByRole('button', { name: 'Go back' }).click();
    expect((await workflow(wf.id)).status).toBe('running');

    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await dialog.getByRole('button', { name: 'Cancel workflow' }).click();
    await see('The workflow is cancelled', 'dialog .outcome');
    await dialog.getByRole('button', { name: 'Close' }).last().click();
    await see('cancelled', '.detail-head .badge');
    await nodeIs('export', 'cancelled');
    await nodeIs('upload', 'cancelled');
    expect(await fillOf('upload')).toBe(await legendColour('cancelled'));
    expect(await page.getByRole('button', { name: 'Cancel', exact: true }).count()).toBe(0);

    const after = await workflow(wf.id);
    expect(after.status).toBe('cancelled');
    expect(after.tasks.map((t: any) => t.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    const exportId = after.tasks.find((t: any) => t.key === 'export').task_id as string;
    await until(
      'the handler aborted',
      () => Promise.resolve(existsSync(join(abortDir, exportId))),
      (v) => v,
    );
    expect(readFileSync(join(abortDir, exportId), 'utf8')).not.toBe('');
  });

  it('lists workflows newest first with their counts and zoned times, page by page', async () => {
    await open('workflows');
    await see('Workflows', 'h1');
    const row = (id: string): Locator => page.locator(`tr[data-workflow-id="${id}"]`);
    await row(ids.cancelled!).waitFor({ timeout: UI_TIMEOUT });
    await see('cancelled', `tr[data-workflow-id="${ids.cancelled}"] .badge`);
    await see('2 cancelled', `tr[data-workflow-id="${ids.cancelled}"] .counts-text`);
    await see('4 succeeded', `tr[data-workflow-id="${ids.diamond}"] .counts-text`);
    await see(BROWSER_OFFSET, `tr[data-workflow-id="${ids.diamond}"] time`);
    // The same order as the API's: newest first.
    const shown = await page
      .locator('table.workflows tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-workflow-id')));
    const listed = await rest.call('GET', '/v1/workflows');
    expect(shown).toEqual(listed.items.map((w: any) => w.id));
    expect(shown.indexOf(ids.cancelled!)).toBeLessThan(shown.indexOf(ids.diamond!));
    await shot('workflows', false);

    // The list follows the API's cursor: 50 newer workflows push the diamond to page 2.
    for (let i = 0; i < 50; i++)
      await rest.call('POST', '/v1/workflows', {
        name: `batch ${i}`,
        tasks: [{ key: 'only', command: 'stamp', queue: 'wf-idle' }],
      });
    await open('workflows');
    await see('batch 49', 'table.workflows');
    expect(await row(ids.diamond!).count()).toBe(0);
    await page.getByRole('button', { name: 'Older →' }).click();
    await see('Page 2', '.pager');
    await row(ids.diamond!).waitFor({ timeout: UI_TIMEOUT });
    await row(ids.diamond!).getByRole('link', { name: 'publish photo-42' }).click();
    await page.waitForURL(`**/ui/workflows/${ids.diamond}`);
    await nodeIs('publish', 'succeeded');
  });

  it('colours blocked and waiting tasks in the tasks list, and a task found there links to its workflow', async () => {
    await open('tasks?status=blocked');
    const filter = page.locator('select[name="status"]');
    await see('blocked', 'table.tasks .badge');
    expect(await filter.getAttribute('class')).toContain('status-blocked');
    const badge = page.locator('table.tasks .badge.status-blocked').first();
    const colour = await styleOf(badge, 'color');
    // A waiting task's badge, as the page would draw one.
    const waiting = String(
      await page.evaluate(`(() => {
      const b = document.createElement('span');
      b.className = 'badge status-waiting';
      document.body.append(b);
      const c = getComputedStyle(b).color;
      b.remove();
      return c;
    })()`),
    );
    expect(colour).not.toBe(waiting);
    const listed = await rest.call('GET', '/v1/tasks?status=blocked');
    expect(listed.total).toBe(301);

    // A blocked task of the fan-in, opened from the list: its page names its workflow, its
    // key, and the parent it waits for.
    const m = listed.items.find((t: any) => /^m\d+$/.test(t.workflow_key ?? ''));
    expect(m.workflow_id).toBe(ids.big);
    await page.locator(`tr[data-task-id="${m.id}"] a`).first().click();
    await page.waitForURL(`**/ui/tasks/${m.id}`);
    const callout = '.workflow-of-task';
    await see('Part of workflow fan-in of 300', callout);
    await see(`as ${m.workflow_key}; it starts once root has succeeded`, callout);
    await page.locator(callout).getByRole('link', { name: 'root' }).click();
    await page.waitForURL(`**/ui/tasks/**`);
    await see('stamp', '.detail-head');
    await see('pending', '.detail-head');
  });
});
