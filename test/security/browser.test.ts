import { existsSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { inProcessScheduler } from '../helpers/inprocess.js';

/**
 * With no token configured the API answers only to this machine. A web page in a browser on
 * the same machine is not "this machine": these attack the guard with forged Host and Origin
 * headers (DNS rebinding, CSRF, sandboxed frames), then with real pages in Chromium.
 */
const db = await useSchema();
let port = 0;

beforeAll(async () => {
  port = (await inProcessScheduler(db, 'file')).httpPort;
});

async function taskCount(): Promise<number> {
  const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM ${db.s}.tasks`);
  return rows[0].n;
}

/** A raw request, so Host and Origin are exactly what a hostile client sends. */
function post(
  path: string,
  headers: Record<string, string>,
  body = path === '/schedule'
    ? '{"command":"echo csrf","scheduled_at":"2030-01-01T00:00:00Z"}'
    : '{"command":"echo csrf","run_at":"2030-01-01T00:00:00Z"}',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('forged headers', () => {
  it('refuses host names that are not loopback, however they start', async () => {
    const before = await taskCount();
    for (const host of [
      '127.evil.example',
      '127.0.0.1.nip.io',
      'localhost.evil.example',
      'evil.example',
    ]) {
      const res = await post('/v1/tasks', { host: `${host}:${port}` });
      expect(res.status, host).toBe(403);
      expect(JSON.parse(res.body).error.message, host).toMatch(/DNS rebinding/);
    }
    expect(await taskCount()).toBe(before);
  });

  it('refuses every Origin but its own, including null', async () => {
    const before = await taskCount();
    const own = `127.0.0.1:${port}`;
    for (const origin of [
      'http://127.evil.example',
      'http://evil.example',
      'null',
      `http://localhost:${port}`, // same machine, another origin
      'http://127.0.0.1:1', // another local server
      `https://${own}`,
      'not a url',
    ]) {
      const res = await post('/v1/tasks', { host: own, origin });
      expect(res.status, origin).toBe(403);
      expect(JSON.parse(res.body).error.message, origin).toMatch(/origin/);
    }
    expect(await taskCount()).toBe(before);
  });

  it('still serves its own pages, curl and the SDKs', async () => {
    const own = `127.0.0.1:${port}`;
    expect((await post('/v1/tasks', { host: own, origin: `http://${own}` })).status).toBe(201);
    expect((await post('/v1/tasks', { host: own })).status).toBe(201);
    expect((await post('/v1/tasks', { host: `localhost:${port}` })).status).toBe(201);
    expect((await post('/v1/tasks', { host: `[::1]:${port}` })).status).toBe(201);
    // The seed's `curl -d` form post: a form content type, no Origin.
    const seed = await post('/schedule', {
      host: own,
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(seed.status).toBe(200);
  });
});

const CHROMIUM = '/usr/bin/chromium';

describe.skipIf(!existsSync(CHROMIUM))('pages in a real browser', () => {
  let attacker: Server;
  let attackerPort = 0;

  beforeAll(async () => {
    // Another server on this machine (or a rebound DNS name) serving a hostile page.
    attacker = createServer((req, res) => {
      const api = `http://${req.url === '/rebind' ? '127.evil.example' : '127.0.0.1'}:${port}`;
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><body>
<form id="f" method="POST" action="${api}/schedule" enctype="text/plain" target="sink">
  <input name='{"command":"echo form","scheduled_at":"2030-01-01T00:00:00Z","x":"' value='"}'>
</form>
<iframe name="sink"></iframe>
<iframe sandbox="allow-scripts allow-forms" srcdoc="<script>fetch('${api}/v1/tasks',{method:'POST',mode:'no-cors',body:JSON.stringify({command:'echo sandboxed'})})</script>"></iframe>
<script>
  fetch('${api}/v1/tasks', { method: 'POST', mode: 'no-cors', body: JSON.stringify({ command: 'echo fetch' }) });
  fetch('${api}/v1/tasks', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ command: 'echo text' }) });
  document.getElementById('f').submit();
</script></body>`);
    });
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    attackerPort = (attacker.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => attacker.close(() => r())));

  it('a page from another origin, a rebound name or a sandboxed frame creates no task', async () => {
    const before = await taskCount();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        // DNS rebinding, without touching the machine's resolver: the name maps to loopback.
        '--host-resolver-rules=MAP *.evil.example 127.0.0.1',
      ],
    });
    try {
      const seen: number[] = [];
      const page = await browser.newPage();
      page.on('response', (r) => {
        if (r.url().includes(`:${port}/`)) seen.push(r.status());
      });
      for (const path of ['/', '/rebind']) {
        const host = path === '/rebind' ? '127.evil.example' : '127.0.0.1';
        await page.goto(`http://${host}:${attackerPort}${path}`);
        await page.waitForTimeout(1500);
      }
      expect(seen.length).toBeGreaterThan(0); // the requests did reach the API…
      expect(await taskCount()).toBe(before); // …and changed nothing
    } finally {
      await browser.close();
    }
  });
});
