import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskService } from '../../src/gen/taskqueue/v1/task_pb.js';
import { TasksApi } from '../../src/api/services/tasks.js';
import type { Coordinator } from '../../src/coordinator/index.js';
import { createToken, revokeToken, type TokenRole } from '../../src/store/tokens.js';
import { Worker } from '../../src/worker/index.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessScheduler, inProcessWorker } from '../helpers/inprocess.js';
import { readSse } from '../helpers/sse.js';

const db = await useSchema();
const api = new TasksApi(db);
const tokens: Record<string, string> = {};
let base = '';
let coordinator: Coordinator;
let sessions: Http2SessionManager;

beforeAll(async () => {
  for (const role of ['admin', 'submit', 'read', 'worker'] as TokenRole[]) {
    tokens[role] = (await createToken(db, { name: role, role })).token;
  }
  tokens.expired = (
    await createToken(db, { name: 'old', role: 'admin', expiresAt: new Date(Date.now() - 1000) })
  ).token;
  tokens.revoked = (await createToken(db, { name: 'gone', role: 'admin' })).token;
  await revokeToken(db, 'gone');
  tokens.bogus = 'tq_not-a-real-token';
  const scheduler = await inProcessScheduler(db, 'file');
  base = `http://127.0.0.1:${scheduler.httpPort}`;
  coordinator = await inProcessCoordinator(db, { scope: 'file' });
  sessions = new Http2SessionManager(`http://127.0.0.1:${coordinator.grpcPort}`);
});

afterAll(() => sessions.abort());

const task = { command: 'echo secured', queue: 'auth' };

async function call(method: string, path: string, credential: string | null, body?: object) {
  const headers: Record<string, string> = {};
  if (credential !== null) headers.authorization = `Bearer ${tokens[credential] ?? credential}`;
  if (body) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return {
    status: res.status,
    body: (await res.json().catch(() => null)) as any,
    headers: res.headers,
  };
}

describe('REST authentication and roles', () => {
  it('lets no request through without a valid token, and each role only what it may do', async () => {
    const existing = (
      await api.submit({ command: 'echo existing', queue: 'auth', run_at: '2031-01-01T00:00:00Z' })
    ).task.id;
    const endpoints: Array<{
      method: string;
      path: string;
      body?: object;
      action: 'read' | 'write' | 'admin';
    }> = [
      { method: 'POST', path: '/v1/tasks', body: task, action: 'write' },
      { method: 'POST', path: '/v1/tasks/batch', body: { tasks: [task] }, action: 'write' },
      {
        method: 'POST',
        path: '/schedule',
        body: { command: 'echo seed', scheduled_at: '2030-01-01T00:00:00Z' },
        action: 'write',
      },
      { method: 'GET', path: `/status?task_id=${existing}`, action: 'read' },
      { method: 'GET', path: '/v1/tasks', action: 'read' },
      { method: 'GET', path: `/v1/tasks/${existing}`, action: 'read' },
      { method: 'GET', path: '/v1/queues', action: 'read' },
      { method: 'GET', path: '/v1/workers', action: 'read' },
      { method: 'PUT', path: '/v1/queues/auth', body: { max_attempts: 4 }, action: 'admin' },
      { method: 'POST', path: '/v1/queues/auth/resume', action: 'admin' },
    ];
    const allowed: Record<string, Set<string>> = {
      admin: new Set(['read', 'write', 'admin']),
      submit: new Set(['read', 'write']),
      read: new Set(['read']),
      worker: new Set(),
    };
    let unauthorizedSuccesses = 0;
    for (const e of endpoints) {
      for (const cred of [null, 'bogus', 'expired', 'revoked']) {
        const r = await call(e.method, e.path, cred, e.body);
        if (r.status < 400) unauthorizedSuccesses++;
        expect(r.status, `${e.method} ${e.path} with ${cred}`).toBe(401);
        expect(r.headers.get('www-authenticate')).toBe('Bearer');
      }
      for (const role of ['admin', 'submit', 'read', 'worker']) {
        const r = await call(e.method, e.path, role, e.body);
        const may = allowed[role]?.has(e.action);
        if (!may && r.status < 400) unauthorizedSuccesses++;
        expect(
          r.status < 400,
          `${e.method} ${e.path} as ${role}: ${r.status} ${JSON.stringify(r.body)}`,
        ).toBe(Boolean(may));
        if (!may) {
          expect(r.status).toBe(403);
          expect(r.body.error.message).toMatch(new RegExp(`role '${role}'`));
        }
      }
    }
    expect(unauthorizedSuccesses).toBe(0);
  });

  it('says why a token is refused, and keeps health and docs public', async () => {
    expect((await call('GET', '/v1/tasks', null)).body.error.message).toMatch(/needs a token/);
    expect((await call('GET', '/v1/tasks', 'expired')).body.error.message).toBe(
      "token 'old' has expired",
    );
    expect((await call('GET', '/v1/tasks', 'revoked')).body.error.message).toBe(
      "token 'gone' was revoked",
    );
    expect((await call('GET', '/v1/tasks', 'bogus')).body.error.message).toBe('unknown token');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/docs/json`)).status).toBe(200);
  });

  it('takes a revocation into account within two seconds', async () => {
    const t = (await createToken(db, { name: 'short-lived', role: 'read' })).token;
    tokens.short = t;
    // The tests above failed many logins from this address: a token not seen yet is looked
    // up once the address's allowance of failures has refilled (429 until then).
    let first = await call('GET', '/v1/queues', 'short');
    for (let i = 0; i < 50 && first.status === 429; i++) {
      await new Promise((r) => setTimeout(r, 200));
      first = await call('GET', '/v1/queues', 'short');
    }
    expect(first.status).toBe(200);
    await revokeToken(db, 'short-lived');
    await new Promise((r) => setTimeout(r, 2100));
    expect((await call('GET', '/v1/queues', 'short')).status).toBe(401);
  });

  it('accepts ?access_token= on the SSE routes, where EventSource cannot send headers', async () => {
    const id = (await api.submit(task)).task.id;
    expect((await fetch(`${base}/v1/tasks/${id}/events`)).status).toBe(401);
    const res = await readSse(
      `${base}/v1/tasks/${id}/events?access_token=${tokens.read}`,
      (e) => e.length > 0,
    );
    expect(res.status).toBe(200);
    expect(res.events[0]?.data.id).toBe(id);
    const all = await readSse(
      `${base}/v1/events?queue=auth&access_token=${tokens.read}`,
      () => true,
      {
        timeoutMs: 500,
      },
    );
    expect(all.status).toBe(200);
    expect((await fetch(`${base}/v1/events?queue=auth`)).status).toBe(401);
  });
});

describe('gRPC authentication and roles', () => {
  const client = (credential: string | null) =>
    createClient(
      TaskService,
      createGrpcTransport({
        baseUrl: `http://127.0.0.1:${coordinator.grpcPort}`,
        sessionManager: sessions,
        interceptors: credential
          ? [
              (next) => (req) => {
                req.header.set('authorization', `Bearer ${tokens[credential] ?? credential}`);
                return next(req);
              },
            ]
          : [],
      }),
    );

  it('refuses missing and bad tokens (Unauthenticated) and the wrong role (PermissionDenied)', async () => {
    let unauthorizedSuccesses = 0;
    const attempt = async (cred: string | null, expected: Code) => {
      const err = await client(cred)
        .submitTask({ command: 'echo grpc', queue: 'auth' })
        .then(() => {
          unauthorizedSuccesses++;
          return null;
        })
        .catch((e: unknown) => ConnectError.from(e));
      expect(err?.code).toBe(expected);
    };
    for (const cred of [null, 'bogus', 'expired', 'revoked'])
      await attempt(cred, Code.Unauthenticated);
    await attempt('read', Code.PermissionDenied);
    await attempt('worker', Code.PermissionDenied);
    expect(unauthorizedSuccesses).toBe(0);
    const ok = await client('submit').submitTask({ command: 'echo grpc', queue: 'auth' });
    expect(ok.created).toBe(true);
    expect((await client('read').getTask({ id: ok.task?.id ?? '' })).task?.command).toBe(
      'echo grpc',
    );
  });

  it('lets a worker connect only with a worker (or admin) token', async () => {
    const refused = new Worker({
      coordinators: [`127.0.0.1:${coordinator.grpcPort}`],
      token: tokens.read,
      queues: ['auth-w'],
      reconnectMinMs: 50,
    });
    refused.start();
    // The role cannot change by retrying: the worker gives up, and says why.
    await expect(refused.connected()).rejects.toThrow(
      /role 'read', which cannot connect as a worker/,
    );
    expect((await refused.refused()).name).toBe('WorkerRefusedError');
    await refused.stop({ timeoutMs: 1000 });

    await inProcessWorker(coordinator, { token: tokens.worker, queues: ['auth-w'] });
    const { task: t } = await api.submit({ command: 'echo via worker token', queue: 'auth-w' });
    for (let i = 0; i < 100 && (await api.get(t.id)).task.status !== 'succeeded'; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect((await api.get(t.id)).task.status).toBe('succeeded');
  });
});
