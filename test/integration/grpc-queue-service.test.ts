import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../src/coordinator/index.js';
import { QueueService } from '../../src/gen/taskqueue/v1/queue_pb.js';
import { TaskService } from '../../src/gen/taskqueue/v1/task_pb.js';
import { createToken, type TokenRole } from '../../src/store/tokens.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator } from '../helpers/inprocess.js';
import { until } from '../helpers/wait.js';

const db = await useSchema();
let coordinator: Coordinator;
let sessions: Http2SessionManager;
const tokens = {} as Record<TokenRole, string>;

beforeAll(async () => {
  for (const role of ['admin', 'submit', 'read', 'worker'] as TokenRole[])
    tokens[role] = (await createToken(db, { name: `queues-${role}`, role })).token;
  coordinator = await inProcessCoordinator(db, { scope: 'file' });
  const url = `http://127.0.0.1:${coordinator.grpcPort}`;
  sessions = new Http2SessionManager(url);
  await until(
    async () => (await fetch(`http://127.0.0.1:${coordinator.httpPort}/v1/queues`)).status === 401,
    10_000,
    'authentication to switch on',
  );
});

afterAll(() => sessions.abort());

/** A QueueService client that sends the token of `role` (none: no authorization header). */
function queues(role: TokenRole | null): Client<typeof QueueService> {
  return createClient(
    QueueService,
    createGrpcTransport({
      baseUrl: `http://127.0.0.1:${coordinator.grpcPort}`,
      sessionManager: sessions,
      interceptors: role
        ? [
            (next) => (req) => {
              req.header.set('authorization', `Bearer ${tokens[role]}`);
              return next(req);
            },
          ]
        : [],
    }),
  );
}

/** The error a call ends with (none: it succeeded). */
const failure = (call: Promise<unknown>) =>
  call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );

/** The queue as REST shows it, read with the admin token. */
async function restQueue(name: string): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${coordinator.httpPort}/v1/queues/${name}`, {
    headers: { authorization: `Bearer ${tokens.admin}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe('QueueService over gRPC', () => {
  it('sets rate limits, group weights and retry defaults, and reads them back as REST does', async () => {
    const admin = queues('admin');
    const updated = await admin.updateQueue({
      name: 'grpc-limits',
      maxAttempts: 5,
      concurrencyLimit: 4,
      rateLimit: { count: 10, periodMs: 1000 },
      keyRateLimit: { count: 2, periodMs: 60_000 },
      groupWeights: { gold: 3, free: 1 },
    });
    expect(updated.queue).toMatchObject({
      name: 'grpc-limits',
      paused: false,
      maxAttempts: 5,
      concurrencyLimit: 4,
      rateLimit: { count: 10, periodMs: 1000 },
      keyRateLimit: { count: 2, periodMs: 60_000 },
      groupWeights: { gold: 3, free: 1 },
    });
    expect(updated.queue?.backoffMs).toBeUndefined();
    expect(await restQueue('grpc-limits')).toMatchObject({
      max_attempts: 5,
      backoff_ms: null,
      concurrency_limit: 4,
      rate_limit: { count: 10, period_ms: 1000 },
      key_rate_limit: { count: 2, period_ms: 60_000 },
      group_weights: { gold: 3, free: 1 },
    });

    // A read token sees the settings and the depth, in the list and alone.
    const tasks = createClient(
      TaskService,
      createGrpcTransport({
        baseUrl: `http://127.0.0.1:${coordinator.grpcPort}`,
        sessionManager: sessions,
        interceptors: [
          (next) => (req) => {
            req.header.set('authorization', `Bearer ${tokens.submit}`);
            return next(req);
          },
        ],
      }),
    );
    await tasks.submitTask({ command: 'echo queued', queue: 'grpc-limits' });
    const reader = queues('read');
    const got = await reader.getQueue({ name: 'grpc-limits' });
    expect(got.queue).toMatchObject({ due: 1, running: 0, rateLimit: { count: 10 } });
    expect(got.queue?.oldestDueAgeMs).toBeTypeOf('bigint');
    const listed = await reader.listQueues({});
    // The same queue, but for how long its oldest task has waited by now.
    expect({
      ...listed.queues.find((q) => q.name === 'grpc-limits'),
      oldestDueAgeMs: 0n,
    }).toEqual({ ...got.queue, oldestDueAgeMs: 0n });

    // Set fields change, cleared ones go back to their default, the rest keep their value.
    const cleared = await admin.updateQueue({
      name: 'grpc-limits',
      keyRateLimit: { count: 3, periodMs: 1000 },
      clear: ['rate_limit', 'group_weights', 'max_attempts'],
    });
    expect(cleared.queue).toMatchObject({
      concurrencyLimit: 4,
      keyRateLimit: { count: 3, periodMs: 1000 },
      groupWeights: {},
    });
    expect(cleared.queue?.rateLimit).toBeUndefined();
    expect(cleared.queue?.maxAttempts).toBeUndefined();
    expect(await restQueue('grpc-limits')).toMatchObject({
      max_attempts: null,
      concurrency_limit: 4,
      rate_limit: null,
      key_rate_limit: { count: 3, period_ms: 1000 },
      group_weights: null,
    });
  });

  it('pauses and resumes a queue', async () => {
    const admin = queues('admin');
    const paused = await admin.pauseQueue({ name: 'grpc-pause' });
    expect(paused.queue).toMatchObject({ name: 'grpc-pause', paused: true });
    expect((await restQueue('grpc-pause')).paused).toBe(true);
    const resumed = await admin.resumeQueue({ name: 'grpc-pause' });
    expect(resumed.queue?.paused).toBe(false);
    expect((await queues('read').getQueue({ name: 'grpc-pause' })).queue?.paused).toBe(false);
  });

  it('answers bad input with InvalidArgument naming the field, and changes nothing', async () => {
    const admin = queues('admin');
    const cases: Array<[Parameters<typeof admin.updateQueue>[0], RegExp]> = [
      [{ name: 'grpc-bad', rateLimit: { count: 0, periodMs: 1000 } }, /^rate_limit\.count /],
      [
        { name: 'grpc-bad', keyRateLimit: { count: 1, periodMs: 86_400_001 } },
        /^key_rate_limit\.period_ms /,
      ],
      [{ name: 'grpc-bad', groupWeights: { gold: 1001 } }, /^group_weights\.gold /],
      // Text PostgreSQL cannot store, in a group's name, is refused before it reaches it.
      [
        { name: 'grpc-bad', groupWeights: { 'go\u0000ld': 2 } },
        /^group_weights has a key with NUL/,
      ],
      [{ name: 'grpc-bad', maxAttempts: 0 }, /^max_attempts /],
      [{ name: 'grpc-bad', concurrencyLimit: -1 }, /^concurrency_limit /],
      [{ name: 'grpc-bad', backoffMs: 5000, backoffMaxMs: 1000 }, /backoff_max_ms/],
      [{ name: 'grpc-bad', clear: ['rate_limits'] }, /^clear names 'rate_limits'/],
      [
        { name: 'grpc-bad', rateLimit: { count: 1, periodMs: 1 }, clear: ['rate_limit'] },
        /^rate_limit is both set and named in clear/,
      ],
      [{ name: 'bad queue!', maxAttempts: 3 }, /^name /],
      [{ name: '', maxAttempts: 3 }, /^name must not be empty/],
    ];
    for (const [req, message] of cases) {
      const err = await failure(admin.updateQueue(req));
      expect(err?.code, JSON.stringify(req)).toBe(Code.InvalidArgument);
      expect(err?.rawMessage).toMatch(message);
    }
    const name = await failure(admin.pauseQueue({ name: 'bad queue!' }));
    expect(name?.code).toBe(Code.InvalidArgument);
    expect(name?.rawMessage).toMatch(/^name /);
    expect(await restQueue('grpc-bad')).toMatchObject({
      max_attempts: null,
      backoff_ms: null,
      rate_limit: null,
      group_weights: null,
    });
  });
});

describe('QueueService roles (attack)', () => {
  it('refuses lower roles (PermissionDenied) and no token (Unauthenticated), and changes nothing', async () => {
    const name = 'grpc-guarded';
    await queues('admin').updateQueue({ name, concurrencyLimit: 7 });
    for (const role of ['read', 'submit', 'worker'] as const) {
      const client = queues(role);
      // One call at a time: a call made before the previous one is awaited could be refused
      // with nothing yet listening for its rejection.
      for (const call of [
        () => client.updateQueue({ name, concurrencyLimit: 1_000_000, clear: ['rate_limit'] }),
        () => client.pauseQueue({ name }),
        () => client.resumeQueue({ name }),
      ]) {
        const err = await failure(call());
        expect(err?.code, role).toBe(Code.PermissionDenied);
        expect(err?.rawMessage).toMatch(`role '${role}'`);
      }
    }
    const anonymous = queues(null);
    for (const call of [
      () => anonymous.updateQueue({ name, concurrencyLimit: 1 }),
      () => anonymous.pauseQueue({ name }),
      () => anonymous.getQueue({ name }),
      () => anonymous.listQueues({}),
    ])
      expect((await failure(call()))?.code).toBe(Code.Unauthenticated);
    // A worker token reads no queues either.
    expect((await failure(queues('worker').getQueue({ name })))?.code).toBe(Code.PermissionDenied);
    expect(await restQueue(name)).toMatchObject({ paused: false, concurrency_limit: 7 });
  });
});
