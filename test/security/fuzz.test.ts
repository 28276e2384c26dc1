import http from 'node:http';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServices } from '../../src/api/index.js';
import { buildHttpApi, routeTable, type RouteEntry } from '../../src/api/rest/http.js';
import { Metrics } from '../../src/observability/metrics.js';
import { useSchema } from '../helpers/db.js';
import { track } from '../helpers/resources.js';

/**
 * Property-based fuzz of the whole REST API. The routes and their input schemas come from the
 * server itself (every route it registered), so a new route is fuzzed without a word here.
 * For each, hostile values (NUL, lone surrogates, numbers a double cannot hold, deep nesting,
 * `__proto__`, wrong types, long and odd Unicode text, broken %-escapes, bytes that are not
 * UTF-8) go into bodies, query strings and path parameters, over a real port, against a real
 * PostgreSQL schema. No answer may be a 5xx; every 4xx has the API's error shape and a
 * message; and the tasks stored before the fuzz are, row for row, unchanged after it.
 */

/** Runs per route for each part of a request; bounded so the file takes well under a minute. */
const RUNS = { body: 150, query: 50, params: 40 };
/** The same seed every run, so that a failure can be replayed; FUZZ_SEED overrides it. */
const SEED = Number(process.env.FUZZ_SEED ?? 20261129);

const db = await useSchema();
let app: FastifyInstance;
let port = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
/** Ids of the tasks stored before the fuzz, and their rows as text. */
let kept: { ids: string[]; rows: string };
/** Values that name things that exist, so that requests get past the lookup. */
const known = { schedule: 'fuzz-keep', queue: 'fuzz' };

beforeAll(async () => {
  const logger = pino({ level: 'silent' });
  const metrics = new Metrics('scheduler', db);
  const services = createApiServices(db, {
    logger,
    component: 'scheduler',
    metrics,
    maxQueueDepth: null,
    rateLimit: null,
  });
  services.start();
  app = await buildHttpApi({
    db,
    logger,
    service: 'scheduler',
    services,
    rateLimit: null,
    host: '127.0.0.1',
    metrics,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  let open = true;
  track(
    {
      name: 'fuzzed API',
      isOpen: () => open,
      stop: async () => {
        agent.destroy();
        await app.close();
        await services.stop();
        open = false;
      },
    },
    'file',
  );
  const address = app.server.address();
  port = typeof address === 'object' && address ? address.port : 0;

  const seeded = [
    { command: 'echo kept', payload: { nested: [1, 'two', { three: null }] }, queue: known.queue },
    { command: 'resize photo.png', idempotency_key: 'fuzz-key-1', priority: 7 },
    { command: 'later', run_at: '2031-01-01T00:00:00Z', max_attempts: 9, backoff_ms: 5 },
    { command: 'echo unicode \u00e9\u{1F600}', payload: 'text' },
  ];
  for (const body of seeded)
    expect((await send('POST', '/v1/tasks', JSON.stringify(body))).status).toBe(201);
  expect(
    (
      await send(
        'POST',
        '/v1/schedules',
        JSON.stringify({ name: known.schedule, cron: '0 * * * *', command: 'echo kept' }),
      )
    ).status,
  ).toBe(201);
  const { rows } = await db.pool.query<{ id: string }>(`SELECT id FROM ${db.s}.tasks`);
  kept = { ids: rows.map((r) => r.id), rows: await taskRows(rows.map((r) => r.id)) };
});

afterAll(async () => {
  // The invariant: whatever was sent, what was stored before is as it was.
  expect(await taskRows(kept.ids)).toBe(kept.rows);
});

async function taskRows(ids: string[]): Promise<string> {
  const { rows } = await db.pool.query<{ row: string }>(
    `SELECT row_to_json(t)::text AS row FROM ${db.s}.tasks t WHERE id = ANY ($1::uuid[]) ORDER BY id`,
    [ids],
  );
  return rows.map((r) => r.row).join('\n');
}

interface Answer {
  status: number;
  type: string;
  text: string;
}

/**
 * One request sent as written (fetch would normalise dot segments and re-encode), over a
 * keep-alive agent. An event stream that opens is closed at once: its status is the answer.
 */
function send(
  method: string,
  path: string,
  body?: string | Buffer,
  contentType = 'application/json',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = contentType;
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent }, (res) => {
      const type = String(res.headers['content-type'] ?? '');
      if (type.startsWith('text/event-stream')) {
        res.destroy();
        resolve({ status: res.statusCode ?? 0, type, text: '' });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type, text: Buffer.concat(chunks).toString() }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** What every answer must be: not a 5xx, and a 4xx in the API's error shape with a message. */
function checkAnswer(a: Answer, what: string): void {
  expect(a.status, `${what} → ${a.status} ${a.text.slice(0, 300)}`).toBeLessThan(500);
  if (a.status < 400) return;
  let body: { error?: { code?: unknown; message?: unknown } } = {};
  try {
    body = JSON.parse(a.text) as typeof body;
  } catch {
    // left empty: the expectations below say what was wrong
  }
  expect(typeof body.error?.code, `${what} → error code in ${a.text.slice(0, 200)}`).toBe('string');
  expect(typeof body.error?.message, `${what} → error message`).toBe('string');
  expect((body.error?.message as string).length, `${what} → error message`).toBeGreaterThan(0);
}

// ----- hostile values -----

/**
 * JSON text to put in a body as written: a number JSON.stringify would change (1e400 would
 * become null), or nesting too deep for JSON.stringify's own stack.
 */
const raw = (text: string): string => `\u0001raw:${Buffer.from(text).toString('base64')}\u0001`;

/** JSON text of `value`, with each raw() marker replaced by its text. */
function jsonText(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replace(
    /"\\u0001raw:([A-Za-z0-9+/=]*)\\u0001"/g,
    (_m, b64: string) => Buffer.from(b64, 'base64').toString(),
  );
}

/** JSON text nested `depth` deep. */
function nested(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array'
    ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
    : `${'{"k":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** Text PostgreSQL cannot store, or would store changed. */
const badText = fc.constantFrom(
  '\u0000',
  'echo \u0000x',
  '\ud800',
  'echo \udc00',
  '\udbff\udbff',
  '\ud83d',
);

/** Text that is odd but valid: it must be stored as sent, or refused with a reason. */
const oddText = fc.oneof(
  fc.constantFrom(
    '\ufffd',
    '\ufeffecho',
    '\u202eohce\u202c',
    '\u200b',
    'e\u0301\u0301\u0301',
    '\u{1F600}\u{10FFFF}',
    '\uFFFE\uFFFF',
    '%00',
    '..',
    '.',
    '',
    ' ',
    '\r\n\t',
    "'; DROP TABLE tasks; --",
    '__proto__',
    'constructor',
    '01900000-0000-7000-8000-000000000000',
    '0 0 32 * *',
    '30 2 28 3 *',
    'Europe/Paris',
  ),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.integer({ min: 1_000, max: 300_000 }).map((n) => 'x'.repeat(n)),
);

const hostileText = fc.oneof(badText, oddText);

const hostileNumber = fc.oneof(
  fc.constantFrom(
    raw('1e400'),
    raw('-1e400'),
    raw('1e-400'),
    raw('12345678901234567890'),
    raw('-0'),
    raw('1.0'),
    raw('1E3'),
    1e308,
    -1e308,
    5e-324,
    Number.MAX_SAFE_INTEGER,
    2 ** 31,
    -(2 ** 31) - 1,
    1.5,
    -1,
    0,
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);

const pollution = fc.constantFrom(
  JSON.parse('{"__proto__":{"polluted":true}}') as unknown,
  JSON.parse('{"constructor":{"prototype":{"polluted":true}}}') as unknown,
  JSON.parse('{"a":[{"__proto__":null}]}') as unknown,
);

const hostile: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: badText },
  { weight: 2, arbitrary: oddText },
  { weight: 2, arbitrary: hostileNumber },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 50, max: 5_000 }),
        fc.constantFrom('array' as const, 'object' as const),
      )
      .map(([depth, kind]) => raw(nested(depth, kind))),
  },
  { weight: 1, arbitrary: pollution },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}, [1, 'a'], { $gt: '' }) },
  {
    weight: 1,
    arbitrary: fc.dictionary(hostileText, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  },
  { weight: 1, arbitrary: fc.array(hostileText, { minLength: 1, maxLength: 3 }) },
);

// ----- values from a route's own schema -----

type Schema = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  enum?: unknown[];
};

/** A plausible value for `schema` (valid or nearly), so that hostile parts get past the rest. */
function plausible(schema: Schema): fc.Arbitrary<unknown> {
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map(plausible));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  switch (schema.type) {
    case 'object': {
      // Optional fields are mostly left out, so that a body is usually valid but for the
      // one hostile place the fuzz puts in it.
      const required = new Set(schema.required ?? []);
      const fields = Object.entries(schema.properties ?? {}).map(([k, s]) =>
        required.has(k)
          ? plausible(s).map((v) => [k, v] as const)
          : fc.oneof(
              { weight: 3, arbitrary: fc.constant(null) },
              { weight: 1, arbitrary: plausible(s).map((v) => [k, v] as const) },
            ),
      );
      return fc
        .tuple(...fields)
        .map((kv) => Object.fromEntries(kv.filter((e): e is readonly [string, unknown] => !!e)));
    }
    case 'array':
      return fc.array(plausible(schema.items ?? {}), {
        minLength: Math.min(Number(schema.minItems ?? 0), 3),
        maxLength: 3,
      });
    case 'integer':
      return fc.integer({
        min: Number(schema.minimum ?? -1000),
        max: Number(schema.maximum ?? 1000),
      });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'string': {
      if (Array.isArray(schema.examples)) return fc.constantFrom(...(schema.examples as unknown[]));
      if (schema.pattern)
        return fc.oneof(
          fc.constantFrom(known.queue, 'default'),
          fc.nat({ max: 1e9 }).map((n) => `fuzz-${n}`),
        );
      if (typeof schema.description === 'string' && schema.description.includes('RFC 3339'))
        return fc
          .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
          .map((d) => d.toISOString());
      return fc.oneof(
        fc.constantFrom('echo hi', '* * * * *', 'UTC', 'fuzz'),
        fc.string({ minLength: Number(schema.minLength ?? 0), maxLength: 20 }),
      );
    }
    default:
      return fc.jsonValue({ maxDepth: 3 });
  }
}

/** `value` with the place that `steps` leads to replaced by `by` (steps pick keys and indexes). */
function replaceAt(value: unknown, steps: number[], by: unknown): unknown {
  if (steps.length === 0 || value === null || typeof value !== 'object') return by;
  const [step = 0, ...rest] = steps;
  if (Array.isArray(value)) {
    if (value.length === 0) return by;
    const i = step % value.length;
    return value.map((v, j) => (j === i ? replaceAt(v, rest, by) : v));
  }
  const keys = Object.keys(value);
  if (keys.length === 0) return by;
  const key = keys[step % keys.length] as string;
  return { ...value, [key]: replaceAt((value as Record<string, unknown>)[key], rest, by) };
}

/** The fields a body schema names, with their schemas; nested ones as paths (`tasks.0.payload`). */
function fieldsOf(schema: Schema, prefix: string[] = []): Array<[string[], Schema]> {
  const here: [string[], Schema] = [prefix, schema];
  if (prefix.length >= 3) return [here];
  if (schema.type === 'array' && schema.items)
    return [here, ...fieldsOf(schema.items, [...prefix, '0'])];
  if (schema.type !== 'object' || !schema.properties) return [here];
  return [
    here,
    ...Object.entries(schema.properties).flatMap(([k, s]) => fieldsOf(s, [...prefix, k])),
  ];
}

/**
 * A hostile value for a field of this schema: mostly of the field's own type (so that it
 * gets past type checks to the code and the database behind them), sometimes anything.
 */
function hostileFor(schema: Schema): fc.Arbitrary<unknown> {
  const member = schema.anyOf?.find((m) => m.type !== 'null');
  if (member) return hostileFor(member);
  switch (schema.type) {
    case 'string':
      return fc.oneof(
        { weight: 4, arbitrary: badText },
        { weight: 3, arbitrary: oddText },
        { weight: 1, arbitrary: hostile },
      );
    case 'integer':
    case 'number':
      return fc.oneof({ weight: 3, arbitrary: hostileNumber }, { weight: 1, arbitrary: hostile });
    case undefined:
      // Any JSON (a payload): bad text and numbers nested anywhere, keys included.
      return fc.oneof(
        hostile,
        fc.dictionary(hostileText, hostile, { minKeys: 1, maxKeys: 3 }),
        fc
          .tuple(fc.jsonValue({ maxDepth: 3 }), fc.array(fc.nat(), { maxLength: 4 }), hostile)
          .map(([v, steps, h]) => ({ wrapped: replaceAt(v, steps, h) })),
      );
    default:
      return hostile;
  }
}

/** `value` with the field at `path` set to `by`, creating what is missing on the way. */
function setField(value: unknown, path: string[], by: unknown): unknown {
  const [key, ...rest] = path;
  if (key === undefined) return by;
  if (/^\d+$/.test(key)) {
    const list = Array.isArray(value) ? [...(value as unknown[])] : [];
    list[Number(key)] = setField(list[Number(key)] ?? {}, rest, by);
    return list;
  }
  const obj = typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {};
  return { ...obj, [key]: setField((obj as Record<string, unknown>)[key], rest, by) };
}

/** A JSON body for `schema`: plausible, with one place made hostile, a stray field, or all of it hostile. */
function hostileBody(schema: Schema): fc.Arbitrary<string | Buffer> {
  const json = fc.oneof(
    {
      weight: 2,
      arbitrary: fc
        .tuple(plausible(schema), fc.array(fc.nat(), { maxLength: 4 }), hostile)
        .map(([v, steps, h]) => jsonText(replaceAt(v, steps, h))),
    },
    {
      // Each field the schema names, present or not, gets its turn, with a value of its type.
      weight: 6,
      arbitrary: fc
        .tuple(plausible(schema), fc.constantFrom(...fieldsOf(schema)))
        .chain(([v, [path, field]]) =>
          hostileFor(field).map((h) => jsonText(setField(v, path, h))),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(plausible(schema), hostileText, hostile)
        .map(([v, k, h]) =>
          jsonText(typeof v === 'object' && v !== null ? { ...v, [k]: h } : { [k]: h }),
        ),
    },
    { weight: 1, arbitrary: hostile.map(jsonText) },
  );
  const broken = fc.constantFrom<string | Buffer>(
    Buffer.from([0x7b, 0x22, 0x63, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), // {"c":"\xc3("}
    Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]), // UTF-16
    '{"command": "echo",',
    '[1, 2, 3',
    '{"a":1}{"b":2}',
    '',
    '   ',
    'null',
  );
  return fc.oneof({ weight: 9, arbitrary: json }, { weight: 1, arbitrary: broken });
}

// ----- query strings and paths, as raw text -----

/** %-escapes of text PostgreSQL cannot store: NUL, and surrogates (not UTF-8 at all). */
const BAD_ESCAPES = ['%00', 'a%00b', '%ED%A0%80', '%ED%B0%80'];
/** %-escapes that do not decode. */
const BROKEN_ESCAPES = ['%E0%A4%A', '%', '%ZZ', '%FF', '%C0%AF'];

/** Percent-encodes `s`, or a broken escape when `s` holds a lone surrogate (not encodable). */
function encode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80';
  }
}

const rawComponent = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...BAD_ESCAPES) },
  { weight: 2, arbitrary: fc.constantFrom(...BROKEN_ESCAPES) },
  { weight: 1, arbitrary: fc.constantFrom('+', '%2B', '..', '%2E%2E', 'NaN', '1e400', '-1') },
  { weight: 2, arbitrary: hostileText.map(encode) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map(encode) },
);

/**
 * A query string: some of the route's own parameters with plausible values, one of them (or
 * a stray one) hostile.
 */
function hostileQuery(schema: Schema | undefined): fc.Arbitrary<string> {
  const props = schema?.properties ?? {};
  const names = Object.keys(props);
  const pair = (value: (name: string) => fc.Arbitrary<string>) =>
    names.length
      ? fc.constantFrom(...names).chain((n) => value(n).map((v) => [n, v] as [string, string]))
      : fc.tuple(rawComponent, rawComponent);
  const plausiblePairs = fc.array(
    pair((n) => plausible(props[n] ?? {}).map((v) => encode(String(v)))),
    { maxLength: 2 },
  );
  const hostilePair = fc.oneof(
    { weight: 4, arbitrary: pair(() => rawComponent) },
    { weight: 1, arbitrary: fc.tuple(rawComponent, rawComponent) },
  );
  return fc
    .tuple(plausiblePairs, hostilePair)
    .map(([ok, bad]) => [...ok, bad].map(([name, value]) => `${name}=${value}`).join('&'));
}

/** Values for the parameters of `url` (`:id`, `*`): ones that name something, or hostile ones. */
function segments(url: string, hostile: boolean): fc.Arbitrary<string[]> {
  const naming = fc.constantFrom(randomUUID(), known.schedule, known.queue, 'default');
  const n = paramCount(url);
  return fc.array(hostile ? fc.oneof(naming, rawComponent) : naming, {
    minLength: n,
    maxLength: n,
  });
}

/** The route's URL with its parameters (`:id`, `*`) filled in. */
function pathOf(url: string, values: string[]): string {
  let i = 0;
  return url.replace(/:[A-Za-z_]+|\*/g, () => values[i++] ?? 'x');
}

function paramCount(url: string): number {
  return (url.match(/:[A-Za-z_]+|\*/g) ?? []).length;
}

// ----- the fuzz -----

/** The routes to fuzz: every one registered, but HEAD (the GET route answers it). */
function routes(): RouteEntry[] {
  return routeTable(app).filter((r) => r.method !== 'HEAD');
}

async function fuzz(
  route: RouteEntry,
  runs: number,
  request: fc.Arbitrary<{ path: string; body?: string | Buffer; type?: string }>,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const what = `${route.method} ${r.path.slice(0, 200)} ${typeof r.body === 'string' ? r.body.slice(0, 200) : (r.body?.toString('hex').slice(0, 60) ?? '')}`;
      checkAnswer(await send(route.method, r.path, r.body, r.type), what);
    }),
    { numRuns: runs, seed: SEED, endOnFailure: true },
  );
}

describe('fuzz of every route, from its own schemas', () => {
  it('has the routes to fuzz', () => {
    const urls = routes().map((r) => `${r.method} ${r.url}`);
    // A sample that must be there; the fuzz itself takes whatever is registered.
    for (const must of ['POST /v1/tasks', 'POST /v1/tasks/batch', 'PATCH /v1/schedules/:ref'])
      expect(urls).toContain(must);
  });

  it('bodies: every route that takes one', async () => {
    for (const route of routes().filter((r) => r.schema.body)) {
      await fuzz(
        route,
        RUNS.body,
        fc
          .tuple(
            segments(route.url, false),
            hostileBody(route.schema.body as Schema),
            fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
          )
          .map(([values, body, type]) => ({ path: pathOf(route.url, values), body, type })),
      );
    }
  });

  it('query strings: every route', async () => {
    for (const route of routes()) {
      await fuzz(
        route,
        RUNS.query,
        fc
          .tuple(
            segments(route.url, false),
            hostileQuery(route.schema.querystring as Schema | undefined),
          )
          .map(([values, query]) => ({ path: `${pathOf(route.url, values)}?${query}` })),
      );
    }
  });

  it('path parameters: every route that has some', async () => {
    for (const route of routes().filter((r) => paramCount(r.url) > 0)) {
      await fuzz(
        route,
        RUNS.params,
        segments(route.url, true).map((values) => ({ path: pathOf(route.url, values) })),
      );
    }
  });
});
