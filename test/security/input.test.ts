import http from 'node:http';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskService } from '../../src/gen/taskqueue/v1/task_pb.js';
import { ValidationError } from '../../src/lib/errors.js';
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
  let json: any = null;
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
