import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import type { DescMethod, DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../../src/api/auth/authenticator.js';
import type { Coordinator } from '../../src/coordinator/index.js';
import { createToken, revokeToken, type TokenRole } from '../../src/store/tokens.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator } from '../helpers/inprocess.js';
import { until } from '../helpers/wait.js';

/**
 * Every REST route and every gRPC method, taken from the running server's own route table
 * and the generated service descriptors (so a new route cannot skip this), against every
 * kind of credential: none, malformed, unknown, expired, revoked, and each role. Nothing but
 * a valid token whose role grants the route's action gets past authentication, and no answer
 * is a 5xx.
 */
const db = await useSchema();
let c: Coordinator;
const tokens = {} as Record<TokenRole | 'expired' | 'revoked', string>;

const GRANTS: Record<TokenRole, readonly Action[]> = {
  admin: ['read', 'write', 'admin', 'work'],
  submit: ['read', 'write'],
  read: ['read'],
  worker: ['work'],
};

/** A credential as sent, and the role it really carries (null: it must be refused). */
interface Credential {
  name: string;
  headers: () => Record<string, string>;
  query?: () => string;
  role: TokenRole | null;
}

const CREDENTIALS: Credential[] = [
  { name: 'none', headers: () => ({}), role: null },
  { name: 'empty bearer', headers: () => ({ authorization: 'Bearer' }), role: null },
  { name: 'bearer and spaces', headers: () => ({ authorization: 'Bearer    ' }), role: null },
  { name: 'garbage', headers: () => ({ authorization: 'Bearer !!not a token!!' }), role: null },
  { name: 'basic auth', headers: () => ({ authorization: 'Basic YWRtaW46YWRtaW4=' }), role: null },
  {
    name: 'unknown token',
    headers: () => ({ authorization: 'Bearer tq_unknown000000000000000000000000000000000' }),
    role: null,
  },
  { name: 'expired', headers: () => ({ authorization: `Bearer ${tokens.expired}` }), role: null },
  { name: 'revoked', headers: () => ({ authorization: `Bearer ${tokens.revoked}` }), role: null },
  {
    name: 'admin + trailing byte',
    headers: () => ({ authorization: `Bearer ${tokens.admin}x` }),
    role: null,
  },
  {
    name: 'admin truncated',
    headers: () => ({ authorization: `Bearer ${tokens.admin.slice(0, -1)}` }),
    role: null,
  },
  {
    name: 'admin prefix only',
    headers: () => ({ authorization: `Bearer ${tokens.admin.slice(0, 10)}` }),
    role: null,
  },
  {
    name: 'stored hash of admin',
    headers: () => ({
      authorization: `Bearer ${createHash('sha256').update(tokens.admin).digest('hex')}`,
    }),
    role: null,
  },
  {
    name: 'two tokens',
    headers: () => ({ authorization: `Bearer ${tokens.read}, Bearer ${tokens.admin}` }),
    role: null,
  },
  { name: 'admin in a cookie', headers: () => ({ cookie: `token=${tokens.admin}` }), role: null },
  {
    name: 'admin in ?access_token',
    headers: () => ({}),
    query: () => `access_token=${tokens.admin}`,
    role: null,
  },
  { name: 'admin', headers: () => ({ authorization: `Bearer ${tokens.admin}` }), role: 'admin' },
  { name: 'submit', headers: () => ({ authorization: `Bearer ${tokens.submit}` }), role: 'submit' },
  { name: 'read', headers: () => ({ authorization: `Bearer ${tokens.read}` }), role: 'read' },
  { name: 'worker', headers: () => ({ authorization: `Bearer ${tokens.worker}` }), role: 'worker' },
];

beforeAll(async () => {
  for (const role of ['admin', 'submit', 'read', 'worker'] as TokenRole[])
    tokens[role] = (await createToken(db, { name: `matrix-${role}`, role })).token;
  tokens.expired = (
    await createToken(db, {
      name: 'matrix-expired',
      role: 'admin',
      expiresAt: new Date(Date.now() - 1000),
    })
  ).token;
  tokens.revoked = (await createToken(db, { name: 'matrix-revoked', role: 'admin' })).token;
  await revokeToken(db, 'matrix-revoked');
  // A high rate limit, so the failed-login limit (tested on its own) does not turn 401s to 429s.
  c = await inProcessCoordinator(db, { scope: 'file', extra: { rateLimit: 1_000_000 } });
  await until(
    async () => (await fetch(`http://127.0.0.1:${c.httpPort}/v1/queues`)).status === 401,
    10_000,
    'authentication to switch on',
  );
});

function concretePath(url: string, query: string | undefined): string {
  const path = url
    .replace(/:id\b/g, uuidv7())
    .replace(/:name\b/g, 'matrix')
    .replace(/:ref\b/g, 'matrix-schedule')
    .replace(/\*$/, 'index.html')
    .replace(/:[A-Za-z_]+/g, 'x');
  return query ? `${path}?${query}` : path;
}

describe('REST: every route × every credential', () => {
  it('lets through only a valid token whose role grants the action; never a 5xx', async () => {
    const routes = c.httpRoutes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS');
    expect(routes.length).toBeGreaterThan(30);
    const protectedRoutes = routes.filter((r) => r.action !== null);
    // Everything but health, docs and the dashboard's files needs a token, /metrics included.
    expect(
      routes
        .filter((r) => r.action === null)
        .map((r) => r.url)
        .sort(),
    ).toEqual(expect.not.arrayContaining(['/metrics', '/v1/tasks', '/v1/queues']));
    expect(protectedRoutes.map((r) => r.url)).toContain('/metrics');

    const failures: string[] = [];
    let unauthorizedSuccesses = 0;
    for (const route of routes) {
      for (const cred of CREDENTIALS) {
        const controller = new AbortController();
        const body = ['POST', 'PUT', 'PATCH'].includes(route.method) ? '{}' : undefined;
        const res = await fetch(
          `http://127.0.0.1:${c.httpPort}${concretePath(route.url, cred.query?.())}`,
          {
            method: route.method,
            headers: { ...cred.headers(), ...(body ? { 'content-type': 'application/json' } : {}) },
            ...(body ? { body } : {}),
            signal: controller.signal,
            redirect: 'manual',
          },
        );
        controller.abort(); // event streams never end on their own
        const what = `${route.method} ${route.url} with ${cred.name}: ${res.status}`;
        if (res.status >= 500) failures.push(`${what} (5xx)`);
        if (route.action === null) {
          if (res.status === 401 || res.status === 403)
            failures.push(`${what} (public route refused)`);
          continue;
        }
        // EventSource cannot send headers: the event streams, and only they, take ?access_token=.
        const role = cred.query && /\/events$/.test(route.url) ? 'admin' : cred.role;
        const allowed = role !== null && GRANTS[role].includes(route.action);
        const expected = role === null ? 401 : 403;
        if (!allowed && res.status !== expected) failures.push(`${what} (expected ${expected})`);
        if (!allowed && res.status < 400) unauthorizedSuccesses++;
        if (allowed && (res.status === 401 || res.status === 403))
          failures.push(`${what} (allowed role refused)`);
      }
    }
    expect(failures).toEqual([]);
    expect(unauthorizedSuccesses).toBe(0);
  });
});

const GRPC_ACTIONS: Record<string, Action> = {
  'TaskService/SubmitTask': 'write',
  'TaskService/CancelTask': 'write',
  'TaskService/GetTask': 'read',
  'TaskService/WatchTask': 'read',
  'TaskService/SubmitWorkflow': 'write',
  'TaskService/GetWorkflow': 'read',
  'TaskService/WatchWorkflow': 'read',
  'QueueService/ListQueues': 'read',
  'QueueService/GetQueue': 'read',
  'QueueService/UpdateQueue': 'admin',
  'QueueService/PauseQueue': 'admin',
  'QueueService/ResumeQueue': 'admin',
  'WorkerService/Connect': 'work',
};

describe('gRPC: every method × every credential', () => {
  let sessions: Http2SessionManager;
  afterAll(() => sessions?.abort());

  it('lets through only a valid token whose role grants the method', async () => {
    const url = `http://127.0.0.1:${c.grpcPort}`;
    sessions = new Http2SessionManager(url);
    const transport = createGrpcTransport({ baseUrl: url, sessionManager: sessions });
    const services = await generatedServices();
    expect(services.map((s) => s.name).sort()).toEqual([
      'QueueService',
      'TaskService',
      'WorkerService',
    ]);
    const methods = services.flatMap((s) => s.methods);
    // Each method has its expectation here: a new one fails until it is added.
    expect(methods.map((m) => `${m.parent.name}/${m.name}`).sort()).toEqual(
      Object.keys(GRPC_ACTIONS).sort(),
    );
    const failures: string[] = [];
    for (const method of methods) {
      const action = GRPC_ACTIONS[`${method.parent.name}/${method.name}`] as Action;
      for (const cred of CREDENTIALS.filter((x) => !x.query)) {
        const code = await callOnce(transport, method, cred.headers());
        const what = `${method.parent.name}/${method.name} with ${cred.name}: ${Code[code ?? 0] ?? 'OK'}`;
        const allowed = cred.role !== null && GRANTS[cred.role].includes(action);
        if (!allowed) {
          const expected = cred.role === null ? Code.Unauthenticated : Code.PermissionDenied;
          if (code !== expected) failures.push(`${what} (expected ${Code[expected]})`);
        } else if (code === Code.Unauthenticated || code === Code.PermissionDenied) {
          failures.push(`${what} (allowed role refused)`);
        }
        if (code === Code.Internal || code === Code.Unknown)
          failures.push(`${what} (server error)`);
      }
    }
    expect(failures).toEqual([]);
  });
});

/** Every service the generated code declares, so a new service or method cannot skip this. */
async function generatedServices(): Promise<DescService[]> {
  const dir = new URL('../../src/gen/taskqueue/v1/', import.meta.url);
  const files = (await readdir(dir)).filter((f) => f.endsWith('_pb.ts'));
  const modules = await Promise.all(
    files.map((f) => import(new URL(f, dir).href) as Promise<Record<string, unknown>>),
  );
  return modules.flatMap((m) =>
    Object.values(m).filter(
      (v): v is DescService => (v as { kind?: unknown } | null)?.kind === 'service',
    ),
  );
}

/** Calls a method once with an empty request; returns the error code, or undefined on success. */
async function callOnce(
  transport: ReturnType<typeof createGrpcTransport>,
  method: DescMethod,
  headers: Record<string, string>,
): Promise<Code | undefined> {
  const client = createClient(method.parent, transport) as unknown as Record<
    string,
    (req: unknown, opts: object) => unknown
  >;
  const call = client[method.localName] as (req: unknown, opts: object) => unknown;
  const opts = { headers, timeoutMs: 5000 };
  try {
    if (method.methodKind === 'unary') {
      await call({ id: uuidv7(), command: 'echo matrix', queue: 'matrix', name: 'matrix' }, opts);
    } else if (method.methodKind === 'server_streaming') {
      for await (const _ of call({ id: uuidv7() }, opts) as AsyncIterable<unknown>) break;
    } else {
      const none = (async function* () {})();
      for await (const _ of call(none, opts) as AsyncIterable<unknown>) break;
    }
    return undefined;
  } catch (err) {
    return ConnectError.from(err).code;
  }
}
