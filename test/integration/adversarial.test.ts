import SwaggerParser from '@apidevtools/swagger-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { inProcessScheduler } from '../helpers/inprocess.js';

/**
 * Hostile and careless input against every write endpoint: it must get a 4xx with a
 * message, never a 5xx, and leave every stored task and schedule exactly as it was.
 */

const db = await useSchema();
let base = '';
let taskId = '';

beforeAll(async () => {
  const s = await inProcessScheduler(db, 'file', { cron: false });
  base = `http://127.0.0.1:${s.httpPort}`;
  taskId = (
    (
      await send(
        'POST',
        '/v1/tasks',
        JSON.stringify({ command: 'echo keep', run_at: '2031-01-01T00:00:00Z' }),
      )
    ).body as { id: string }
  ).id;
  await send(
    'POST',
    '/v1/schedules',
    JSON.stringify({ name: 'keep', cron: '0 * * * *', command: 'echo keep' }),
  );
  await send('PUT', '/v1/queues/kept', JSON.stringify({ max_attempts: 2 }));
});

async function send(method: string, path: string, body?: string, contentType = 'application/json') {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': contentType },
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed as any };
}

/** Everything a bad request must not change. */
async function snapshot(): Promise<string> {
  const { rows } = await db.pool.query(
    `SELECT (SELECT count(*) || ':' || coalesce(md5(string_agg(id::text || status || updated_at::text || coalesce(payload::text, ''), ',' ORDER BY id)), '')
             FROM ${db.s}.tasks) AS tasks,
            (SELECT count(*) || ':' || coalesce(md5(string_agg(id::text || updated_at::text || paused::text, ',' ORDER BY id)), '')
             FROM ${db.s}.schedules) AS schedules,
            (SELECT count(*) || ':' || coalesce(md5(string_agg(name || updated_at::text, ',' ORDER BY name)), '')
             FROM ${db.s}.queues) AS queues`,
  );
  return JSON.stringify(rows[0]);
}

const HUGE = 'x'.repeat(2 * 1024 * 1024);
const task = { command: 'echo hi' };

// Field mutations applied to each endpoint's valid body.
const mutations: Array<[string, (b: Record<string, unknown>) => Record<string, unknown>]> = [
  ['an unknown field', (b) => ({ ...b, bogus: 1 })],
  ['a number where text belongs', (b) => ({ ...b, [Object.keys(b)[0] ?? 'command']: 12345 })],
  [
    'an object where text belongs',
    (b) => ({ ...b, [Object.keys(b)[0] ?? 'command']: { $gt: '' } }),
  ],
  ['a huge field', (b) => ({ ...b, [Object.keys(b)[0] ?? 'command']: HUGE })],
];

const endpoints: Array<{
  method: string;
  path: string;
  valid: Record<string, unknown>;
  extra?: Array<[string, Record<string, unknown>]>;
}> = [
  {
    method: 'POST',
    path: '/v1/tasks',
    valid: task,
    extra: [
      ['year 0', { ...task, run_at: '0000-01-01T00:00:00Z' }],
      ['year 99999', { ...task, run_at: '+099999-01-01T00:00:00Z' }],
      ['February 30', { ...task, run_at: '2030-02-30T00:00:00Z' }],
      ['a date without offset', { ...task, run_at: '2030-01-01T00:00:00' }],
      ['epoch seconds', { ...task, run_at: 1700000000 }],
      ['a negative priority beyond range', { ...task, priority: -1_000_000_000 }],
      ['a huge priority', { ...task, priority: 1e12 }],
      ['a fractional priority', { ...task, priority: 1.5 }],
      ['negative attempts', { ...task, max_attempts: -1 }],
      ['astronomic attempts', { ...task, max_attempts: 1e20 }],
      ['a zero timeout', { ...task, timeout_ms: 0 }],
      ['a timeout of centuries', { ...task, timeout_ms: 1e15 }],
      ['Infinity as text', { ...task, timeout_ms: 'Infinity' }],
      ['a 2 MB payload', { ...task, payload: HUGE }],
      ['a NUL in the command', { command: 'echo \u0000' }],
      ['a blank command', { command: '   ' }],
      ['a queue with SQL in it', { ...task, queue: "x'; DROP TABLE tasks; --" }],
    ],
  },
  {
    method: 'POST',
    path: '/v1/tasks/batch',
    valid: { tasks: [task] },
    extra: [
      ['one bad task of two', { tasks: [task, { command: 1 }] }],
      ['no tasks', { tasks: [] }],
    ],
  },
  {
    method: 'POST',
    path: '/schedule',
    valid: { command: 'echo hi', scheduled_at: '2023-04-01T15:04:05Z' },
    extra: [['a bad time', { command: 'echo', scheduled_at: '2023-13-45T99:00:00Z' }]],
  },
  {
    method: 'POST',
    path: '/v1/tasks/{id}/retry',
    valid: { max_attempts: 2 },
    extra: [['negative attempts', { max_attempts: -5 }]],
  },
  {
    method: 'PUT',
    path: '/v1/queues/kept',
    valid: { max_attempts: 3 },
    extra: [
      ['a zero limit', { concurrency_limit: 0 }],
      ['a negative backoff', { backoff_ms: -1 }],
    ],
  },
  {
    method: 'POST',
    path: '/v1/schedules',
    valid: { name: 'n1', cron: '* * * * *', command: 'echo' },
    extra: [
      [
        'SQL in the cron',
        { name: 'n2', cron: "* * * * *'; DROP TABLE schedules; --", command: 'echo' },
      ],
      ['a cron of 8 fields', { name: 'n3', cron: '* * * * * * * *', command: 'echo' }],
      ['a bad time zone', { name: 'n4', cron: '* * * * *', command: 'echo', timezone: 'UTC+99' }],
    ],
  },
  {
    method: 'PATCH',
    path: '/v1/schedules/keep',
    valid: { paused: true },
    extra: [
      ['a bad cron', { cron: 'sometimes' }],
      ['a null name', { name: null }],
    ],
  },
];

describe('adversarial input', () => {
  const cases: Array<[string, string, string, string]> = [];
  for (const e of endpoints) {
    const body = (b: unknown) => JSON.stringify(b);
    cases.push([`${e.method} ${e.path}`, 'malformed JSON', e.method, '{"command": "echo",']);
    cases.push([`${e.method} ${e.path}`, 'a JSON array', e.method, '[1, 2, 3]']);
    cases.push([`${e.method} ${e.path}`, 'a JSON string', e.method, '"just a string"']);
    for (const [name, mutate] of mutations)
      cases.push([`${e.method} ${e.path}`, name, e.method, body(mutate(e.valid))]);
    for (const [name, b] of e.extra ?? [])
      cases.push([`${e.method} ${e.path}`, name, e.method, body(b)]);
  }

  it.each(cases)(
    '%s with %s: 4xx with a message, nothing changed',
    async (endpoint, _what, method, raw) => {
      const path = endpoint.split(' ')[1]?.replace('{id}', taskId) as string;
      const before = await snapshot();
      const r = await send(method, path, raw);
      expect(r.status, JSON.stringify(r.body)).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(typeof r.body?.error?.message).toBe('string');
      expect(r.body.error.message.length).toBeGreaterThan(5);
      expect(await snapshot()).toBe(before);
    },
  );

  it.each([
    ['/v1/tasks/{x}/cancel', "1' OR '1'='1"],
    ['/v1/tasks/{x}/retry', '../../etc/passwd'],
    ['/v1/tasks/{x}/run-now', "1' OR '1'='1"],
    ['/v1/tasks/{x}/cancel', 'x'.repeat(5000)],
    ['/v1/schedules/{x}/trigger', "keep' OR 1=1 --"],
    ['/v1/queues/{x}/pause', 'has%20space'],
  ])('POST %s with id %s: 4xx, nothing changed', async (template, id) => {
    const before = await snapshot();
    const r = await send(
      'POST',
      template.replace('{x}', encodeURIComponent(id)).replace('%2520', '%20'),
    );
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(await snapshot()).toBe(before);
  });

  it.each([
    ['POST', '/v1/tasks', (p: string) => `{"command":"echo deep","payload":${p}}`],
    [
      'POST',
      '/v1/tasks/batch',
      (p: string) => `{"tasks":[{"command":"echo deep","payload":${p}}]}`,
    ],
    [
      'POST',
      '/v1/schedules',
      (p: string) => `{"name":"deep","cron":"* * * * *","command":"echo","payload":${p}}`,
    ],
  ])(
    '%s %s with a payload nested 5000 deep (10 kB): 400 naming the payload',
    async (method, path, make) => {
      const before = await snapshot();
      const r = await send(method, path, make('['.repeat(5000) + ']'.repeat(5000)));
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.message).toMatch(/payload must nest at most 100 levels/);
      expect(r.body.error.field).toMatch(/payload$/);
      expect(await snapshot()).toBe(before);
      // 100 levels are fine.
      const ok = await send(
        method,
        path,
        make('['.repeat(100) + ']'.repeat(100)).replace('"name":"deep"', '"name":"deep-ok"'),
      );
      expect(ok.status).toBeLessThan(300);
    },
  );

  it('stores SQL-like and unicode text verbatim', async () => {
    const nasty = `echo '; DROP TABLE tasks; -- \u00e9\u{1F600} "quoted" \\backslash`;
    const r = await send(
      'POST',
      '/v1/tasks',
      JSON.stringify({
        command: nasty,
        payload: { q: "' OR 1=1 --", nested: [null, true, 1e308] },
      }),
    );
    expect(r.status).toBe(201);
    const got = await send('GET', `/v1/tasks/${r.body.id}`);
    expect(got.body.command).toBe(nasty);
    expect(got.body.payload).toEqual({ q: "' OR 1=1 --", nested: [null, true, 1e308] });
  });

  it('creates exactly one task for the same idempotency key sent 20 times at once', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        send(
          'POST',
          '/v1/tasks',
          JSON.stringify({ command: 'echo once', idempotency_key: 'twenty-times' }),
        ),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(19);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM ${db.s}.tasks WHERE idempotency_key = 'twenty-times'`,
    );
    expect(rows[0].n).toBe(1);
  });
});

describe('OpenAPI', () => {
  it('is a valid OpenAPI 3 document in which every route documents its answers', async () => {
    const doc = (await send('GET', '/docs/json')).body;
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeTruthy();
    for (const [path, ops] of Object.entries(
      doc.paths as Record<string, Record<string, { responses?: object; summary?: string }>>,
    )) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.summary, `${method} ${path} has a summary`).toBeTruthy();
        expect(
          Object.keys(op.responses ?? {}).length,
          `${method} ${path} documents responses`,
        ).toBeGreaterThan(0);
      }
    }
  });
});
