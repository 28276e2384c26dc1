import http from 'node:http';
import http2 from 'node:http2';
import { create, toBinary } from '@bufbuild/protobuf';
import { StructSchema, ValueSchema, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SubmitTaskRequestSchema, TaskService } from '../../src/gen/taskqueue/v1/task_pb.js';
import { nextRuns, parseCron, ticksToFire } from '../../src/lib/cron.js';
import { ValidationError } from '../../src/lib/errors.js';
import { insertSchedule } from '../../src/store/schedules.js';
import { resolveWorkerOptions } from '../../src/worker/options.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator } from '../helpers/inprocess.js';

/**
 * Bad input always gets a clear 4xx naming the field (gRPC: invalid_argument), never a 5xx,
 * and never a value stored other than as it was sent.
 */

const db = await useSchema();
/** Submits to a queue past this many due tasks are refused (backpressure). */
const DEPTH = 3;
let base = '';
let port = 0;
let grpcPort = 0;
let client: Client<typeof TaskService>;
let sessions: Http2SessionManager;

beforeAll(async () => {
  const c = await inProcessCoordinator(db, { scope: 'file', extra: { maxQueueDepth: DEPTH } });
  port = c.httpPort;
  base = `http://127.0.0.1:${port}`;
  grpcPort = c.grpcPort;
  const url = `http://127.0.0.1:${grpcPort}`;
  sessions = new Http2SessionManager(url);
  client = createClient(
    TaskService,
    createGrpcTransport({ baseUrl: url, sessionManager: sessions }),
  );
  expect((await call('POST', '/v1/schedules', keep)).status).toBe(201);
});

afterAll(() => sessions.abort());

const keep = { name: 'keep', cron: '0 * * * *', command: 'echo keep' };

async function call(method: string, path: string, body?: string | object | Buffer) {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined
      ? {}
      : { body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, body: json, headers: res.headers };
}

/** A request sent as written: fetch would normalise `/..` and dot segments away. */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let json: any = text;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON: the test says so
        }
        resolve({ status: res.statusCode ?? 0, body: json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function taskRows(): Promise<string> {
  const { rows } = await db.pool.query(
    `SELECT count(*)::int AS n, coalesce(md5(string_agg(t::text, ',' ORDER BY id)), '') AS h FROM ${db.s}.tasks t`,
  );
  return JSON.stringify(rows[0]);
}

/** 400 with the API's error shape, naming `field`; nothing stored. */
async function expectRefused(
  r: Promise<{ status: number; body: any }>,
  field: string,
  message?: RegExp,
) {
  const before = await taskRows();
  const res = await r;
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.error.code).toBe('validation');
  expect(res.body.error.field).toBe(field);
  if (message) expect(res.body.error.message).toMatch(message);
  expect(await taskRows()).toBe(before);
}

/** One unary gRPC call with a hand-encoded request; answers grpc-status and grpc-message. */
function rawGrpc(path: string, message: Uint8Array): Promise<{ status: string; message: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${grpcPort}`);
    session.on('error', reject);
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    let headers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (headers = h));
    req.on('trailers', (t) => (headers = { ...headers, ...t }));
    req.on('data', () => undefined);
    req.on('end', () => {
      session.close();
      resolve({
        status: String(headers['grpc-status']),
        message: decodeURIComponent(String(headers['grpc-message'] ?? '')),
      });
    });
    req.on('error', reject);
    req.end(frame);
  });
}

const NUL = '\u0000';
const LONE = '\ud800';

describe('text PostgreSQL cannot store: 400 naming the field, on every route', () => {
  const bodies: Array<[string, string, string, object]> = [
    ['POST', '/v1/tasks', 'idempotency_key', { command: 'echo', idempotency_key: `a${NUL}` }],
    ['POST', '/v1/tasks', 'idempotency_key', { command: 'echo', idempotency_key: `a${LONE}` }],
    ['POST', '/v1/tasks', 'concurrency_key', { command: 'echo', concurrency_key: `${LONE}k` }],
    ['POST', '/v1/tasks', 'command', { command: `echo ${LONE}` }],
    ['POST', '/v1/tasks', 'payload.a.1', { command: 'echo', payload: { a: [1, `x${LONE}`] } }],
    ['POST', '/v1/tasks', 'payload.a', { command: 'echo', payload: { a: { [`k${NUL}`]: 1 } } }],
    ['POST', '/v1/tasks', 'payload', { command: 'echo', payload: { [`\udc00`]: 1 } }],
    ['POST', '/v1/tasks', 'queue', { command: 'echo', queue: NUL }],
    [
      'POST',
      '/v1/tasks/batch',
      'tasks.1.idempotency_key',
      { tasks: [{ command: 'echo' }, { command: 'echo', idempotency_key: NUL }] },
    ],
    [
      'POST',
      '/v1/tasks/batch',
      'tasks.0.payload.x',
      { tasks: [{ command: 'echo', payload: { x: LONE } }] },
    ],
    ['POST', '/schedule', 'command', { command: `echo ${LONE}` }],
    ['POST', '/v1/schedules', 'command', { ...keep, name: 'n1', command: `echo ${NUL}` }],
    ['POST', '/v1/schedules', 'payload.p', { ...keep, name: 'n2', payload: { p: LONE } }],
    ['POST', '/v1/schedules', 'timezone', { ...keep, name: 'n3', timezone: `UTC${NUL}` }],
    ['PATCH', '/v1/schedules/keep', 'command', { command: `echo ${LONE}` }],
    ['PATCH', '/v1/schedules/keep', 'payload', { payload: { [LONE]: 1 } }],
  ];
  it.each(bodies)('%s %s with bad text in %s', async (method, path, field, body) => {
    await expectRefused(call(method, path, body), field, /NUL|surrogate/);
  });

  it.each([
    ['/v1/tasks?command=echo%00x', 'command'],
    ['/v1/tasks?idempotency_key=%00', 'idempotency_key'],
    ['/v1/tasks?command=%ED%A0%80', 'command'], // a surrogate, UTF-8 encoded: not UTF-8
    ['/v1/tasks?command=%E0%A4%A', 'command'], // a cut-off sequence
  ])('GET %s', async (path, field) => {
    await expectRefused(call('GET', path), field, /query parameter/);
  });

  const refs = ['a%00b', 'a%ED%A0%80'];
  it.each(
    refs.flatMap((ref) => [
      ['GET', `/v1/schedules/${ref}`],
      ['PATCH', `/v1/schedules/${ref}`],
      ['DELETE', `/v1/schedules/${ref}`],
      ['POST', `/v1/schedules/${ref}/pause`],
      ['POST', `/v1/schedules/${ref}/resume`],
      ['POST', `/v1/schedules/${ref}/trigger`],
    ]),
  )('%s %s', async (method, path) => {
    const res = await call(method, path, method === 'PATCH' ? { paused: true } : undefined);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.code).toMatch(/validation|bad_request/);
    expect(res.body.error.message).toMatch(/path parameter|not valid/);
  });

  it('gRPC SubmitTask: invalid_argument naming the field', async () => {
    for (const [req, field] of [
      [{ command: 'echo', idempotencyKey: `k${NUL}` }, 'idempotency_key'],
      [{ command: `echo ${NUL}` }, 'command'],
      [
        {
          command: 'echo',
          payload: create(ValueSchema, { kind: { case: 'stringValue', value: NUL } }),
        },
        'payload',
      ],
      [
        {
          command: 'echo',
          payload: create(ValueSchema, { kind: { case: 'numberValue', value: NaN } }),
        },
        'payload',
      ],
      [{ command: 'echo', runAt: { seconds: 10n ** 15n, nanos: 0 } }, 'run_at'],
    ] as const) {
      const err = ConnectError.from(await client.submitTask(req).catch((e: unknown) => e));
      expect(err.code, err.rawMessage).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toMatch(new RegExp(`^${field}`));
    }
  });

  it('gRPC SubmitTask: a payload key named __proto__ is refused, not dropped', async () => {
    // A JavaScript client cannot build this message (the key would set the prototype);
    // another language's can. Encode a key of the same length, then swap its bytes.
    const body = toBinary(
      SubmitTaskRequestSchema,
      create(SubmitTaskRequestSchema, {
        command: 'echo',
        payload: create(ValueSchema, {
          kind: {
            case: 'structValue',
            value: create(StructSchema, {
              fields: {
                xxproto__: create(ValueSchema, { kind: { case: 'boolValue', value: true } }),
              },
            }),
          },
        }),
      }),
    );
    const at = Buffer.from(body).indexOf('xxproto__');
    body.set(Buffer.from('__proto__'), at);
    const { status, message } = await rawGrpc('/taskqueue.v1.TaskService/SubmitTask', body);
    expect(status).toBe(String(Code.InvalidArgument));
    expect(message).toMatch(/^payload.*__proto__/);
  });
});

describe('gRPC strings that are not UTF-8', () => {
  it('are refused, not stored with U+FFFD in their place', async () => {
    const body = toBinary(
      SubmitTaskRequestSchema,
      create(SubmitTaskRequestSchema, { command: 'echo', idempotencyKey: 'key-XY' }),
    );
    const at = Buffer.from(body).indexOf('XY');
    body.set([0xc3, 0x28], at); // a two-byte sequence broken in its second byte
    const before = await taskRows();
    const { status, message } = await rawGrpc('/taskqueue.v1.TaskService/SubmitTask', body);
    // A request that does not decode is `internal` in gRPC's convention (and connect's), but
    // the message says what is wrong, and nothing is stored.
    expect(status).toBe(String(Code.Internal));
    expect(message).toMatch(/not valid UTF-8/);
    expect(await taskRows()).toBe(before);
  });
});

describe('values that would be changed silently are refused', () => {
  it.each([
    ['1e400', 'payload.n', /1e400/],
    ['-1e400', 'payload.n', /-1e400/],
    ['1e-400', 'payload.n', /1e-400/],
    ['12345678901234567890', 'payload.n', /12345678901234567890/],
  ])('a payload number %s', async (literal, field, message) => {
    await expectRefused(
      call('POST', '/v1/tasks', `{"command":"echo","payload":{"n":${literal}}}`),
      field,
      message,
    );
  });

  it('keeps numbers that survive as written', async () => {
    const r = await call(
      'POST',
      '/v1/tasks',
      '{"command":"echo exact","queue":"exact","payload":[0.1,1.0,-0,1e308,5e-324,9007199254740991,1.5E3]}',
    );
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.payload).toEqual([0.1, 1, 0, 1e308, 5e-324, 9007199254740991, 1500]);
  });

  it('a lone surrogate is never stored as U+FFFD', async () => {
    await expectRefused(
      call('POST', '/v1/tasks', { command: 'echo', idempotency_key: `x${LONE}y` }),
      'idempotency_key',
    );
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM ${db.s}.tasks WHERE idempotency_key LIKE '%\ufffd%'`,
    );
    expect(rows[0].n).toBe(0);
  });

  it('__proto__ in a body is refused with the reason, and pollutes nothing', async () => {
    for (const [body, field] of [
      ['{"command":"echo","payload":{"__proto__":{"polluted":true}}}', 'payload.__proto__'],
      ['{"command":"echo","__proto__":{"polluted":true}}', '__proto__'],
      [
        '{"command":"echo","payload":{"a":{"constructor":{"prototype":{"polluted":true}}}}}',
        'payload.a.constructor',
      ],
    ] as const) {
      await expectRefused(call('POST', '/v1/tasks', body), field, /prototype/);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a body that is not UTF-8 says so', async () => {
    const body = Buffer.concat([
      Buffer.from('{"command":"echo '),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);
    const r = await call('POST', '/v1/tasks', body);
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/not valid UTF-8/);
  });
});

describe('clear messages', () => {
  it('a bad %-encoding in a path gets the API error shape', async () => {
    for (const path of ['/v1/tasks/%E0%A4%A', '/v1/schedules/%ZZ', '/v1/queues/%']) {
      const r = await call('GET', path);
      expect(r.status, path).toBe(400);
      expect(Object.keys(r.body)).toEqual(['error']);
      expect(r.body.error).toMatchObject({ code: 'bad_request' });
      expect(r.body.error.message).toMatch(/percent-encod/);
    }
  });

  it("a body over a route's limit is told that route's limit", async () => {
    const ask = (path: string, bytes: number) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            path,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': String(bytes) },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => {
              req.destroy();
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
            });
          },
        );
        req.on('error', reject);
        req.flushHeaders();
      });
    const batch = await ask('/v1/tasks/batch', 34_000_000);
    expect(batch.status).toBe(413);
    expect(batch.body.error.message).toBe('request body exceeds the limit of 33554432 bytes');
    const one = await ask('/v1/tasks', 2_000_000);
    expect(one.status).toBe(413);
    expect(one.body.error.message).toBe('request body exceeds the limit of 1048576 bytes');
  });
});

describe('schedule names and ids', () => {
  it('refuses a name that looks like an id', async () => {
    const a = await call('POST', '/v1/schedules', { ...keep, name: 'victim' });
    expect(a.status).toBe(201);
    await expectRefused(call('POST', '/v1/schedules', { ...keep, name: a.body.id }), 'name', /id/);
    await expectRefused(
      call('POST', '/v1/schedules', { ...keep, name: String(a.body.id).toUpperCase() }),
      'name',
    );
    await expectRefused(call('PATCH', '/v1/schedules/keep', { name: a.body.id }), 'name');
  });

  it('an id always means that schedule, even beside an older schedule named after it', async () => {
    const a = await call('POST', '/v1/schedules', { ...keep, name: 'real' });
    // Stored before names were checked:
    await insertSchedule(db, {
      name: a.body.id,
      cron: '0 * * * *',
      timezone: 'UTC',
      command: 'echo impostor',
      handler: 'echo',
      payload: null,
      queue: 'default',
      priority: 0,
      maxAttempts: null,
      timeoutMs: null,
      misfire: 'run_once',
      catchUpLimit: 100,
      paused: false,
      nextRunAt: new Date(Date.now() + 3_600_000),
    });
    // An update writes a new row version at the end of the table, so a scan meets the
    // impostor first.
    await db.pool.query(`UPDATE ${db.s}.schedules SET paused = paused WHERE id = $1`, [a.body.id]);
    for (let i = 0; i < 3; i++) {
      const got = await call('GET', `/v1/schedules/${a.body.id}`);
      expect(got.body.name).toBe('real');
    }
    expect((await call('DELETE', `/v1/schedules/${a.body.id}`)).status).toBe(204);
    const { rows } = await db.pool.query(`SELECT name FROM ${db.s}.schedules WHERE name = $1`, [
      a.body.id,
    ]);
    expect(rows).toHaveLength(1);
  });
});

describe('backpressure', () => {
  it('gRPC SubmitTask over --max-queue-depth: resource_exhausted with a retry hint', async () => {
    for (let i = 0; i < DEPTH; i++)
      await client.submitTask({ command: 'echo', queue: 'grpc-full' });
    const err = ConnectError.from(
      await client.submitTask({ command: 'echo', queue: 'grpc-full' }).catch((e: unknown) => e),
    );
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/queue 'grpc-full' holds 3 due tasks \(limit 3\); retry in 5 s/);
    expect(err.metadata.get('retry-after')).toBe('5');
  });

  it('POST /v1/schedules/:ref/trigger honours the depth limit: 429 with Retry-After', async () => {
    expect(
      (await call('POST', '/v1/schedules', { ...keep, name: 'flood', queue: 'trigger-full' }))
        .status,
    ).toBe(201);
    for (let i = 0; i < DEPTH; i++)
      expect((await call('POST', '/v1/schedules/flood/trigger')).status).toBe(201);
    const full = await call('POST', '/v1/schedules/flood/trigger');
    expect(full.status).toBe(429);
    expect(full.headers.get('retry-after')).toBe('5');
    expect(full.body.error.message).toMatch(/queue 'trigger-full' holds 3 due tasks/);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM ${db.s}.tasks WHERE queue = 'trigger-full'`,
    );
    expect(rows[0].n).toBe(DEPTH);
  });
});

describe('cron', () => {
  it.each([
    ['0 0 32 * *', /day of month.*"32"|"32".*day of month/],
    ['1-70 * * * *', /minute.*"1-70"|"1-70".*minute/],
    ['* * * 13 *', /month.*"13"|"13".*month/],
    ['* * * * 8', /day of week.*"8"|"8".*day of week/],
    ['0 0 0 * *', /day of month.*"0"|"0".*day of month/],
    ['70 * * * * *', /second.*"70"|"70".*second/],
    ['*/0 * * * *', /minute.*"\*\/0"|"\*\/0".*minute/],
  ])('cron %s names the value given and its field', async (cron, message) => {
    const r = await call('POST', '/v1/schedules', { ...keep, name: 'cron-msg', cron });
    expect(r.status).toBe(400);
    expect(r.body.error.field).toBe('cron');
    expect(r.body.error.message).toMatch(message);
    expect(r.body.error.message).not.toMatch(/: 31$|: 12$|: -1$|: 60$/);
  });

  // 2027-03-28 is the last Sunday of March: 02:30 does not exist in Paris that night.
  const cron = parseCron('30 2 28 3 *', 'Europe/Paris');
  const from = new Date('2026-11-01T00:00:00Z');
  const tick = new Date('2027-03-28T01:30:00Z'); // 03:30 CEST, the shifted 02:30

  it('lists the shifted run that the next run shows, from any instant before it', () => {
    expect(cron.nextRun(from)?.toISOString()).toBe(tick.toISOString());
    for (const before of [from, new Date(tick.getTime() - 1), new Date(tick.getTime() - 1800_000)])
      expect(nextRuns(cron, before, 3).map((d) => d.toISOString())).toEqual([
        '2027-03-28T01:30:00.000Z',
        '2028-03-28T00:30:00.000Z',
        '2029-03-28T00:30:00.000Z',
      ]);
  });

  it('fires every run of the skipped hour, as if the clocks had not jumped yet', () => {
    const twice = parseCron('0,30 2 * * *', 'Europe/Paris');
    for (const from of ['2027-03-28T00:00:00Z', '2027-03-28T01:00:00Z']) {
      expect(nextRuns(twice, new Date(from), 3).map((d) => d.toISOString())).toContain(
        '2027-03-28T01:30:00.000Z',
      );
    }
    expect(
      nextRuns(twice, new Date('2027-03-28T01:10:00Z'), 2).map((d) => d.toISOString()),
    ).toEqual(['2027-03-28T01:30:00.000Z', '2027-03-29T00:00:00.000Z']);
  });

  it('fires the shifted run', () => {
    expect(ticksToFire(cron, tick, new Date(tick.getTime() + 1000), 'run_once', 100)).toEqual([
      tick,
    ]);
  });

  it("a schedule's next_runs start with its next_run_at, one a year", async () => {
    const r = await call('POST', '/v1/schedules', {
      ...keep,
      name: 'dst',
      cron: '30 2 28 3 *',
      timezone: 'Europe/Paris',
    });
    expect(r.status).toBe(201);
    expect(r.body.next_runs[0]).toBe(r.body.next_run_at);
    const years = (r.body.next_runs as string[]).map((t) => new Date(t).getUTCFullYear());
    expect(years).toEqual(years.map((_, i) => (years[0] as number) + i));
  });
});

describe('queue names', () => {
  it.each(['.', '..', '...'])('refuses a queue named %s everywhere', async (name) => {
    const enc = name.replace(/\./g, '%2E');
    for (const path of [`/v1/queues/${enc}`, `/v1/queues/${enc}/pause`]) {
      const r = await raw(path.endsWith('pause') ? 'POST' : 'GET', path);
      expect(r.status, path).toBe(400);
      expect(r.body.error.field).toBe('name');
    }
    await expectRefused(call('POST', '/v1/tasks', { command: 'echo', queue: name }), 'queue');
    await expectRefused(call('GET', `/v1/tasks?queue=${name}`), 'queue');
    await expectRefused(
      call('POST', '/v1/schedules', { ...keep, name: 'dots', queue: name }),
      'queue',
    );
    const grpc = ConnectError.from(
      await client.submitTask({ command: 'echo', queue: name }).catch((e: unknown) => e),
    );
    expect(grpc.code).toBe(Code.InvalidArgument);
    expect(() => resolveWorkerOptions({ queues: [name] })).toThrow(ValidationError);
    expect(resolveWorkerOptions({ queues: ['a.b', '.hidden'] }).queues).toEqual(['a.b', '.hidden']);
  });
});

describe('unknown query parameters', () => {
  it.each([
    '/v1/tasks',
    '/v1/schedules',
    '/v1/queues',
    '/v1/workers',
    '/v1/stats',
    '/v1/schedules/keep',
  ])('%s?foo=1 is refused naming it', async (path) => {
    const r = await call('GET', `${path}?foo=1`);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ field: 'foo', message: "unknown query parameter 'foo'" });
  });
});

describe('gRPC run_at', () => {
  it('still takes a valid time', async () => {
    const at = new Date(Date.now() + 60_000);
    const r = await client.submitTask({
      command: 'echo',
      queue: 'grpc-time',
      runAt: timestampFromDate(at),
    });
    expect(Number(r.task?.scheduledAt?.seconds)).toBe(Math.floor(at.getTime() / 1000));
  });
});

describe('queue settings', () => {
  it('refuses a backoff cap below the backoff, given together or one at a time', async () => {
    await expectRefused(
      call('PUT', '/v1/queues/q1', { backoff_ms: 10000, backoff_max_ms: 10 }),
      'backoff_max_ms',
      /backoff_max_ms must be at least backoff_ms/,
    );
    expect((await call('PUT', '/v1/queues/q2', { backoff_ms: 10000 })).status).toBe(200);
    await expectRefused(call('PUT', '/v1/queues/q2', { backoff_max_ms: 10 }), 'backoff_max_ms');
    expect((await call('PUT', '/v1/queues/q3', { backoff_max_ms: 10 })).status).toBe(200);
    await expectRefused(call('PUT', '/v1/queues/q3', { backoff_ms: 11 }), 'backoff_ms');
    expect((await call('GET', '/v1/queues/q3')).body.backoff_ms).toBe(null);
  });
});
