import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/lib/errors.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { databaseUrl, useSchema } from '../helpers/db.js';
import { inProcessScheduler } from '../helpers/inprocess.js';

const db = await useSchema();

function rawGet(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('with no token configured', () => {
  it('refuses browser pages from other origins (CSRF) and foreign Host names (DNS rebinding)', async () => {
    const s = await inProcessScheduler(db);
    const port = s.httpPort;
    expect((await rawGet(port, '/v1/queues', { host: `127.0.0.1:${port}` })).status).toBe(200);
    expect(
      (
        await rawGet(port, '/v1/queues', {
          host: `localhost:${port}`,
          origin: `http://localhost:${port}`,
        })
      ).status,
    ).toBe(200);
    // Another local origin (a dev server, any other app's page) is a foreign origin too.
    expect(
      (
        await rawGet(port, '/v1/queues', {
          host: `localhost:${port}`,
          origin: 'http://localhost:5173',
        })
      ).status,
    ).toBe(403);
    const csrf = await rawGet(port, '/v1/queues', {
      host: `127.0.0.1:${port}`,
      origin: 'https://evil.example',
    });
    expect(csrf.status).toBe(403);
    expect(csrf.body.error.message).toMatch(/request from origin https:\/\/evil.example refused/);
    const rebinding = await rawGet(port, '/v1/queues', { host: `evil.example:${port}` });
    expect(rebinding.status).toBe(403);
    expect(rebinding.body.error.message).toMatch(/Host 'evil.example:\d+' refused/);
    expect((await rawGet(port, '/healthz', { host: 'evil.example' })).status).toBe(200);
  });

  it('refuses to bind a non-loopback address unless --insecure', async () => {
    const open = new Scheduler({
      databaseUrl: databaseUrl(),
      schema: db.schema,
      host: '0.0.0.0',
      httpPort: 0,
    });
    const err = await open.start().catch((e: unknown) => e);
    await open.stop();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(
      /refusing to bind 0.0.0.0 without authentication.*taskq token create.*--insecure/,
    );
    const insecure = await inProcessScheduler(db, 'test', { host: '0.0.0.0', insecure: true });
    expect(insecure.httpPort).toBeGreaterThan(0);
  });
});

describe('rate limit and backpressure', () => {
  it('answers 429 with Retry-After past the per-caller rate', async () => {
    const s = await inProcessScheduler(db, 'test', { rateLimit: 5 });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`http://127.0.0.1:${s.httpPort}/v1/queues`);
      statuses.push(res.status);
      if (res.status === 429) retryAfter ??= res.headers.get('retry-after');
      await res.arrayBuffer();
    }
    expect(statuses.filter((x) => x === 200).length).toBeGreaterThanOrEqual(10);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });

  it('answers 429 to submits for a queue at its depth limit, and stores nothing', async () => {
    const s = await inProcessScheduler(db, 'test', { maxQueueDepth: 3 });
    const submit = (queue: string) =>
      fetch(`http://127.0.0.1:${s.httpPort}/v1/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ command: 'echo', queue }),
      });
    for (let i = 0; i < 3; i++) expect((await submit('deep')).status).toBe(201);
    const full = await submit('deep');
    expect(full.status).toBe(429);
    expect(full.headers.get('retry-after')).toBe('5');
    expect(((await full.json()) as any).error.message).toMatch(
      /queue 'deep' holds 3 due tasks \(limit 3\)/,
    );
    expect((await submit('shallow')).status).toBe(201);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM ${db.s}.tasks WHERE queue = 'deep'`,
    );
    expect(rows[0].n).toBe(3);
  });
});
