import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Authenticator } from '../../src/api/auth/authenticator.js';
import { TasksApi } from '../../src/api/services/tasks.js';
import { TaskService } from '../../src/gen/taskqueue/v1/task_pb.js';
import { createToken, revokeToken } from '../../src/store/tokens.js';
import { createDb } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import { databaseUrl, schemaName, useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessScheduler } from '../helpers/inprocess.js';
import { until } from '../helpers/wait.js';

/**
 * The guards around tokens: caches that a wall clock stepped backwards cannot freeze, a
 * WatchTask that ends on revocation, failed logins that are rate limited, and /metrics that
 * needs a token and cannot be grown by hostile names.
 */
const db = await useSchema();

afterEach(() => vi.useRealTimers());

describe('caches on a monotonic clock', () => {
  it('notices new tokens and revocations after the wall clock steps back an hour', async () => {
    // A schema of its own, so that "tokens exist" starts false here.
    const own = createDb({ url: databaseUrl(), schema: schemaName('clock'), max: 2 });
    await migrate(own);
    const auth = new Authenticator(own);
    try {
      expect(await auth.enabled()).toBe(false);
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() - 3_600_000);
      await createToken(own, { name: 'keeps-auth-on', role: 'read' });
      const { token } = await createToken(own, { name: 'clock', role: 'admin' });
      await new Promise((r) => setTimeout(r, 2100));
      expect(await auth.enabled()).toBe(true);
      expect((await auth.authenticate(`Bearer ${token}`)).name).toBe('clock');
      vi.setSystemTime(Date.now() - 3_600_000);
      await revokeToken(own, 'clock');
      await new Promise((r) => setTimeout(r, 2100));
      await expect(auth.authenticate(`Bearer ${token}`)).rejects.toThrow(/revoked/);
    } finally {
      auth.stop();
      await own.pool.query(`DROP SCHEMA ${own.s} CASCADE`);
      await own.pool.end();
    }
  });
});

describe('with tokens', () => {
  it('ends a WatchTask call within 2 s of its token being revoked', async () => {
    const c = await inProcessCoordinator(db);
    const reader = (await createToken(db, { name: 'watcher', role: 'read' })).token;
    await until(
      async () => (await fetch(`http://127.0.0.1:${c.httpPort}/v1/queues`)).status === 401,
      10_000,
      'authentication to switch on',
    );
    const { task } = await new TasksApi(db).submit({
      command: 'echo watched',
      queue: 'nobody-serves-this',
    });
    const url = `http://127.0.0.1:${c.grpcPort}`;
    const sessions = new Http2SessionManager(url);
    const client = createClient(
      TaskService,
      createGrpcTransport({ baseUrl: url, sessionManager: sessions }),
    );
    let revokedAt = 0;
    let error: ConnectError | undefined;
    try {
      for await (const ev of client.watchTask(
        { id: task.id },
        { headers: { authorization: `Bearer ${reader}` } },
      )) {
        if (ev.task && revokedAt === 0) {
          revokedAt = Date.now();
          await revokeToken(db, 'watcher');
        }
      }
    } catch (err) {
      error = ConnectError.from(err);
    } finally {
      sessions.abort();
    }
    expect(error?.code).toBe(Code.Unauthenticated);
    expect(Date.now() - revokedAt).toBeLessThan(3500);
  });

  it('rate limits failed logins per address, over REST and gRPC, and keeps known good tokens working', async () => {
    const s = await inProcessScheduler(db);
    const admin = (await createToken(db, { name: 'limits-admin', role: 'admin' })).token;
    const base = `http://127.0.0.1:${s.httpPort}`;
    const get = (token: string) =>
      fetch(`${base}/v1/queues`, { headers: { authorization: `Bearer ${token}` } });
    await until(async () => (await get('tq_wrong')).status !== 200, 10_000, 'authentication');
    expect((await get(admin)).status).toBe(200);
    // The guesses arrive together, as a guesser's would: one after another on a loaded machine,
    // they can come slowly enough for the bucket (20 a second) to refill between them.
    const answers = await Promise.all(Array.from({ length: 80 }, (_, i) => get(`tq_guess_${i}`)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((x) => x === 401).length).toBeGreaterThanOrEqual(10);
    expect(statuses.every((x) => x === 401 || x === 429)).toBe(true);
    const limited = answers.find((r) => r.status === 429);
    expect(limited).toBeDefined();
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0);
    // A token this process already knows to be good is not shut out with the guessers.
    expect((await get(admin)).status).toBe(200);

    // gRPC shares the limit of its process.
    const c = await inProcessCoordinator(db);
    const url = `http://127.0.0.1:${c.grpcPort}`;
    const sessions = new Http2SessionManager(url);
    const client = createClient(
      TaskService,
      createGrpcTransport({ baseUrl: url, sessionManager: sessions }),
    );
    const codes: Code[] = [];
    try {
      await Promise.all(
        Array.from({ length: 80 }, (_, i) =>
          client
            .getTask(
              { id: '01a2269b-c6c5-72c6-893d-79460a368f1b' },
              { headers: { authorization: `Bearer tq_guess_${i}` } },
            )
            .catch((err: unknown) => void codes.push(ConnectError.from(err).code)),
        ),
      );
    } finally {
      sessions.abort();
    }
    expect(codes).toHaveLength(80);
    expect(codes).toContain(Code.Unauthenticated);
    expect(codes).toContain(Code.ResourceExhausted);
  });

  it('/metrics needs a token that may read, and hostile names cannot grow it', async () => {
    const c = await inProcessCoordinator(db);
    const base = `http://127.0.0.1:${c.httpPort}`;
    const read = (await createToken(db, { name: 'metrics-read', role: 'read' })).token;
    const worker = (await createToken(db, { name: 'metrics-worker', role: 'worker' })).token;
    const scrape = (token?: string) =>
      fetch(`${base}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    await until(async () => (await scrape()).status === 401, 10_000, 'authentication');
    expect((await scrape(worker)).status).toBe(403);
    const first = await scrape(read);
    expect(first.status).toBe(200);
    const sizeBefore = (await first.text()).length;
    const admin = (await createToken(db, { name: 'metrics-admin', role: 'admin' })).token;
    const res = await fetch(`${base}/v1/tasks/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        tasks: Array.from({ length: 2000 }, (_, i) => ({
          command: `hostile-${i}-${'x'.repeat(40)} arg`,
          queue: `q-${i}`,
          run_at: '2030-01-01T00:00:00Z',
        })),
      }),
    });
    expect(res.status).toBe(201);
    await new Promise((r) => setTimeout(r, 600)); // depth is re-read at most every 500 ms
    const text = await (await scrape(read)).text();
    expect(text).not.toMatch(/hostile-/);
    expect(text).toMatch(/queue="other"/);
    expect(text.length).toBeLessThan(sizeBefore + 5_000);
  });
});
