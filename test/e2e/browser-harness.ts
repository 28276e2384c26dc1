import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TaskqProcess } from '../helpers/processes.js';
import { track } from '../helpers/resources.js';

/**
 * What the dashboard's browser tests share: Debian's Chromium driven by playwright-core, a
 * page in a fixed time zone, and helpers that wait for what a user would see and for what
 * the API then says.
 */

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

/**
 * The browser's time zone in these tests: not the machine's, and with a half-hour offset, so
 * a time shown without its zone, or converted twice, cannot pass for right.
 */
export const BROWSER_ZONE = 'Asia/Kolkata';
/** Its offset as the dashboard labels it (India keeps no daylight saving time). */
export const BROWSER_OFFSET = 'UTC+5:30';

export const UI_TIMEOUT = 30_000;

/**
 * Where screenshots go: docs/screenshots with `npm run screenshots` (TASKQ_SCREENSHOTS=1);
 * otherwise a temporary folder, so that a test run leaves the tree as it found it. They are
 * taken either way, so the run proves every page renders.
 */
export function screenshotDir(): string {
  const dir = process.env.TASKQ_SCREENSHOTS
    ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))
    : `${mkdtempSync(join(tmpdir(), 'taskq-shots-'))}/`;
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Says once, on stderr, why a browser test file is skipped. */
export function explainSkip(file: string): void {
  if (!hasChromium)
    process.stderr.write(
      `${file} skipped: ${CHROMIUM} not found (install Debian's chromium package)\n`,
    );
}

/** Chromium and one page in {@link BROWSER_ZONE}; the page's own errors go to stderr. */
export async function launchPage(): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const context = await browser.newContext({
    viewport: { width: 1360, height: 860 },
    timezoneId: BROWSER_ZONE,
  });
  const page = await context.newPage();
  page.on('pageerror', (err) => process.stderr.write(`page error: ${err.message}\n`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') process.stderr.write(`page console: ${msg.text()}\n`);
  });
  return { browser, page };
}

/** A REST client for the test's own calls, with the bearer token once one is set. */
export class TestApi {
  token: string | null = null;
  constructor(public base: string) {}

  async call(method: string, path: string, body?: unknown): Promise<any> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const json = res.status === 204 ? null : await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  submit(body: object): Promise<any> {
    return this.call('POST', '/v1/tasks', body);
  }

  task(id: string): Promise<any> {
    return this.call('GET', `/v1/tasks/${id}`);
  }
}

/** Polls until `pred` holds; the error names the last state seen. */
export async function until<T>(
  what: string,
  read: () => Promise<T>,
  pred: (v: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (pred(v)) return v;
    if (Date.now() > deadline)
      throw new Error(`${what}: not reached in ${timeoutMs} ms; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the page shows `text` (inside `selector`, when given). */
export async function see(page: Page, text: string | RegExp, selector = 'body'): Promise<void> {
  await page.locator(selector, { hasText: text }).first().waitFor({ timeout: UI_TIMEOUT });
}

/** Opens a dashboard path (below /ui/). */
export async function openUi(page: Page, base: string, path: string): Promise<void> {
  await page.goto(`${base}/ui/${path}`, { waitUntil: 'domcontentloaded' });
}

/**
 * A worker process built with the SDK (`new Worker({labels})`; the CLI has no labels flag),
 * named `name`, on `queues`, with two handlers: `stamp`, and `block`, which waits for its
 * AbortSignal and then writes the signal's reason to `<abortDir>/<task id>`.
 */
export async function startSdkWorker(
  grpcPort: number,
  opts: { name: string; queues: string[]; labels: Record<string, string>; abortDir: string },
): Promise<{ proc: TaskqProcess; workerId: string }> {
  const script = join(mkdtempSync(join(tmpdir(), 'taskq-sdk-worker-')), 'worker.mjs');
  const sdk = fileURLToPath(new URL('../../dist/worker/index.js', import.meta.url));
  writeFileSync(
    script,
    `import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from ${JSON.stringify(sdk)};
const opts = JSON.parse(process.argv[2]);
const w = new Worker({
  coordinators: [opts.coordinator],
  name: opts.name,
  labels: opts.labels,
  queues: opts.queues,
  concurrency: 4,
});
w.handle('stamp', () => ({ at: Date.now() }));
w.handle('block', (_payload, ctx) => new Promise((resolve) => {
  ctx.signal.addEventListener('abort', () => {
    writeFileSync(join(opts.abortDir, ctx.taskId), String(ctx.signal.reason?.message ?? ctx.signal.reason));
    resolve({ aborted: true });
  }, { once: true });
}));
process.on('SIGTERM', () => void w.stop().then(() => process.exit(0)));
w.start();
await w.connected();
console.log(JSON.stringify({ msg: 'connected', workerId: w.id }));
`,
  );
  const child = spawn(
    process.execPath,
    [script, JSON.stringify({ ...opts, coordinator: `127.0.0.1:${grpcPort}` })],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const proc = new TaskqProcess(opts.name, child);
  track({ name: opts.name, isOpen: () => proc.running, stop: () => proc.stop() }, 'file');
  const connected = await proc.waitForMsg('connected');
  return { proc, workerId: connected.workerId as string };
}

/**
 * Writes a handlers module for `taskq worker --handlers` (repeatable, so it adds to the test
 * fixture's `stamp`, `fail` and `hold`) and returns its path. `source` is the module's text.
 */
export function handlersModule(source: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'taskq-handlers-')), 'handlers.mjs');
  writeFileSync(file, source);
  return file;
}
