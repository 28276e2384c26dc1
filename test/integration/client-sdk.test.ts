import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ApiError,
  ConnectionError,
  TaskQueueClient,
  WaitTimeoutError,
  type Task,
  type WatchEvent,
} from '../../src/client/index.js';
import type { Coordinator } from '../../src/coordinator/index.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessScheduler, inProcessWorker } from '../helpers/inprocess.js';
import { track } from '../helpers/resources.js';

/**
 * The `task-queue/client` SDK against a real scheduler, coordinator and worker, and, for
 * what a healthy server never does on cue (503, 429, a dropped stream), against a tiny
 * scripted HTTP server.
 */

const db = await useSchema();
let coordinator: Coordinator;
let tq: TaskQueueClient;

beforeAll(async () => {
  coordinator = await inProcessCoordinator(db, { scope: 'file' });
  const scheduler = await inProcessScheduler(db, 'file');
  tq = new TaskQueueClient({ baseUrl: `http://127.0.0.1:${scheduler.httpPort}/` });
});

const later = (ms = 3_600_000): Date => new Date(Date.now() + ms);

describe('runNow', () => {
  it('runs a task scheduled an hour ahead at once, and the queue counts it in its last minute', async () => {
    await inProcessWorker(coordinator, { queues: ['run-now'] });
    const task = await tq.submit({ command: 'echo soon', queue: 'run-now', run_at: later() });
    const moved = await tq.runNow(task.id);
    expect(moved.status).toBe('pending');
    const done = await tq.waitFor(task.id, { timeoutMs: 30_000 });
    expect(done.status).toBe('succeeded');
    expect(Date.parse(done.started_at ?? '')).toBeLessThan(Date.parse(task.run_at));
    // Throughput is cached for up to 5 s per process; depth is always fresh.
    await expect
      .poll(async () => (await tq.queues()).find((x) => x.name === 'run-now'), { timeout: 15_000 })
      .toMatchObject({ succeeded_last_minute: 1, failed_last_minute: 0, scheduled: 0 });
    await expect(tq.runNow(task.id)).rejects.toMatchObject({ status: 409 });
  });
});

/** A scripted HTTP server on a free port, stopped after the test. Records every request. */
async function scriptedServer(
  handle: (req: IncomingMessage, res: ServerResponse, n: number) => void,
): Promise<{ url: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    handle(req, res, requests.length);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let open = true;
  track({
    name: 'scripted server',
    isOpen: () => open,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
        open = false;
      }),
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const TASK: Task = {
  id: '01900000-0000-7000-8000-000000000001',
  queue: 'default',
  command: 'echo hi',
  payload: null,
  priority: 0,
  status: 'pending',
  run_at: '2030-01-01T00:00:00.000Z',
  attempt: 0,
  max_attempts: 3,
  timeout_ms: null,
  backoff_ms: 1000,
  backoff_max_ms: 300000,
  worker_id: null,
  idempotency_key: null,
  concurrency_key: null,
  progress: null,
  result: null,
  error: null,
  executor: null,
  created_at: '2030-01-01T00:00:00.000Z',
  updated_at: '2030-01-01T00:00:00.000Z',
  picked_at: null,
  started_at: null,
  completed_at: null,
  failed_at: null,
  cancelled_at: null,
};

function json(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

describe('tasks', () => {
  it('submits, reads back, and tells a new task from one with a known idempotency key', async () => {
    const runAt = later();
    const first = await tq.submitDetailed({
      command: 'resize photo.png',
      payload: { width: 800 },
      queue: 'sdk-submit',
      priority: 5,
      run_at: runAt,
      max_attempts: 4,
      timeout_ms: 30_000,
      idempotency_key: 'photo-42',
    });
    expect(first.created).toBe(true);
    expect(first.task).toMatchObject({
      command: 'resize photo.png',
      payload: { width: 800 },
      queue: 'sdk-submit',
      priority: 5,
      status: 'pending',
      run_at: runAt.toISOString(),
      max_attempts: 4,
      timeout_ms: 30_000,
    });
    const again = await tq.submitDetailed({
      command: 'resize photo.png',
      idempotency_key: 'photo-42',
    });
    expect(again).toMatchObject({ created: false, task: { id: first.task.id } });

    const got = await tq.get(first.task.id);
    expect(got.id).toBe(first.task.id);
    expect(got.attempts).toEqual([]);
  });

  it('submits a batch, and pages through a list with cursors and with listAll', async () => {
    const batch = await tq.submitBatch(
      [1, 2, 3, 4, 5].map((i) => ({ command: `page ${i}`, queue: 'sdk-paging', run_at: later() })),
    );
    expect(batch.created).toBe(5);
    const ids = batch.items.map((i) => i.id);

    const page1 = await tq.list({ queue: 'sdk-paging', limit: 2 });
    expect(page1.items.map((t) => t.id)).toEqual([ids[4], ids[3]]);
    expect(page1.next_cursor).toEqual(expect.any(String));
    const page2 = await tq.list({ queue: 'sdk-paging', limit: 2, cursor: page1.next_cursor! });
    expect(page2.items.map((t) => t.id)).toEqual([ids[2], ids[1]]);

    const all: string[] = [];
    for await (const t of tq.listAll({ queue: 'sdk-paging', limit: 2 })) all.push(t.id);
    expect(all).toEqual([...ids].reverse());

    const filtered = await tq.list({ queue: 'sdk-paging', command: 'page 3', status: 'pending' });
    expect(filtered.items.map((t) => t.id)).toEqual([ids[2]]);
  });

  it('cancels and retries, with 409 as an ApiError when the state forbids it', async () => {
    const t = await tq.submit({ command: 'nobody-serves-this', queue: 'sdk-cancel' });
    expect((await tq.get(t.id)).waiting_for).toMatch(/nobody-serves-this/);
    expect((await tq.cancel(t.id)).status).toBe('cancelled');
    const again = await tq.cancel(t.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ApiError);
    expect(again).toMatchObject({ status: 409, code: 'conflict' });

    const retried = await tq.retry(t.id, { max_attempts: 2 });
    expect(retried).toMatchObject({ id: t.id, status: 'pending', max_attempts: 2 });
    expect(await tq.retry(t.id).catch((e: unknown) => e)).toMatchObject({ status: 409 });
  });

  it('reports bad input as an ApiError naming the field, and an unknown task as 404', async () => {
    const bad = await tq.submit({ command: 'x', priority: 5000 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ApiError);
    expect(bad).toMatchObject({ status: 400, code: 'validation', field: 'priority' });
    expect((bad as ApiError).message).toMatch(/priority/);
    const missing = await tq.get('01900000-0000-7000-8000-000000000000').catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, code: 'not_found' });
  });
});

describe('queues and workers', () => {
  it('sets retry defaults, pauses and resumes a queue, and lists it', async () => {
    await tq.submit({ command: 'x', queue: 'sdk-q', run_at: later() });
    const set = await tq.setQueue('sdk-q', { max_attempts: 7, backoff_ms: 2000 });
    expect(set).toMatchObject({
      name: 'sdk-q',
      max_attempts: 7,
      backoff_ms: 2000,
      backoff_max_ms: null,
    });
    expect((await tq.pauseQueue('sdk-q')).paused).toBe(true);
    const listed = (await tq.queues()).find((q) => q.name === 'sdk-q');
    expect(listed).toMatchObject({ paused: true, scheduled: 1, max_attempts: 7 });
    expect((await tq.resumeQueue('sdk-q')).paused).toBe(false);
    expect(await tq.queue('sdk-q')).toMatchObject({ paused: false, scheduled: 1 });
    // The new default applies to tasks submitted afterwards.
    expect((await tq.submit({ command: 'y', queue: 'sdk-q', run_at: later() })).max_attempts).toBe(
      7,
    );
    const limited = await tq.setQueue('sdk-q', { concurrency_limit: 2, key_concurrency_limit: 1 });
    expect(limited).toMatchObject({
      concurrency_limit: 2,
      key_concurrency_limit: 1,
      max_attempts: 7,
    });
    const keyed = await tq.submit({ command: 'z', queue: 'sdk-q', concurrency_key: 'customer-9' });
    expect(keyed.concurrency_key).toBe('customer-9');
  });

  it('lists a connected worker with its handlers', async () => {
    await inProcessWorker(coordinator, { name: 'sdk-worker', queues: ['sdk-w'] }, (w) =>
      w.handle('thing', () => 'ok'),
    );
    const me = (await tq.workers()).find((w) => w.name === 'sdk-worker');
    expect(me).toMatchObject({ state: 'live', queues: ['sdk-w'] });
    expect(me?.handlers).toContain('thing');
  });
});

describe('schedules', () => {
  it('creates, lists, pauses, resumes, triggers and deletes a cron schedule', async () => {
    const created = await tq.createSchedule({
      name: 'sdk-nightly',
      cron: '0 3 * * *',
      timezone: 'Europe/Paris',
      command: 'report nightly',
      queue: 'sdk-sched',
    });
    expect(created).toMatchObject({ name: 'sdk-nightly', cron: '0 3 * * *', paused: false });
    expect(created.next_runs).toHaveLength(5);
    expect((await tq.schedules()).map((s) => s.name)).toContain('sdk-nightly');
    expect((await tq.pauseSchedule('sdk-nightly')).next_run_at).toBeNull();
    expect((await tq.resumeSchedule(created.id)).paused).toBe(false);
    expect((await tq.updateSchedule('sdk-nightly', { priority: 3 })).priority).toBe(3);
    const task = await tq.triggerSchedule('sdk-nightly');
    expect(task).toMatchObject({ command: 'report nightly', queue: 'sdk-sched', priority: 3 });
    await tq.deleteSchedule('sdk-nightly');
    expect(await tq.schedule('sdk-nightly').catch((e: unknown) => e)).toMatchObject({
      status: 404,
    });
    const bad = await tq
      .createSchedule({ name: 'sdk-bad', cron: 'every day', command: 'x' })
      .catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, field: 'cron' });
  });
});

describe('watch', () => {
  it('follows a task from pending through running to succeeded, with handler progress', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    await inProcessWorker(coordinator, { queues: ['sdk-watch'] }, (w) =>
      w.handle('report', async (_p, ctx) => {
        ctx.progress(40, 'downloading');
        await gate;
        ctx.progress(90, 'almost');
        await new Promise((r) => setTimeout(r, 50));
        return { done: true };
      }),
    );
    // Due only once the watch has seen it pending: a claim that began before the stream
    // switched events on may go unannounced, and its running state fold into the next one.
    const t = await tq.submit({ command: 'report', queue: 'sdk-watch', run_at: later(60_000) });
    const safety = setTimeout(release, 10_000);
    const seen: WatchEvent[] = [];
    const watch = tq.watch(t.id);
    let final: Task | undefined;
    for (;;) {
      const next = await watch.next();
      if (next.done) {
        final = next.value;
        break;
      }
      seen.push(next.value);
      if (seen.length === 1) await tq.runNow(t.id);
      if (next.value.type === 'progress' && next.value.percent === 40) release();
    }
    clearTimeout(safety);
    const statuses = seen.flatMap((e) => (e.type === 'task' ? [e.task.status] : []));
    expect(statuses[0]).toBe('pending');
    expect(statuses).toContain('running');
    expect(statuses.at(-1)).toBe('succeeded');
    expect(statuses.indexOf('running')).toBeLessThan(statuses.indexOf('succeeded'));
    const progress = seen.flatMap((e) => (e.type === 'progress' ? [[e.percent, e.message]] : []));
    expect(progress).toContainEqual([40, 'downloading']);
    expect(final).toMatchObject({ id: t.id, status: 'succeeded', result: { done: true } });
    expect(await tq.waitFor(t.id)).toMatchObject({ status: 'succeeded' });
  });

  it('ends at once for a finished task, stops on abort, and throws 404 for an unknown one', async () => {
    const t = await tq.submit({ command: 'nobody-serves-this', queue: 'sdk-watch-end' });
    await tq.cancel(t.id);
    const events: WatchEvent[] = [];
    for await (const e of tq.watch(t.id)) events.push(e);
    expect(events.map((e) => e.type === 'task' && e.task.status)).toEqual(['cancelled']);

    const pending = await tq.submit({ command: 'nobody-serves-this', queue: 'sdk-watch-end' });
    const stop = new AbortController();
    const started = Date.now();
    const aborted = (async () => {
      for await (const e of tq.watch(pending.id, { signal: stop.signal })) {
        if (e.type === 'task') stop.abort(new Error('enough'));
      }
    })();
    await expect(aborted).rejects.toThrow('enough');
    expect(Date.now() - started).toBeLessThan(5_000);

    const unknown = tq.watch('01900000-0000-7000-8000-000000000000').next();
    await expect(unknown).rejects.toMatchObject({ status: 404 });

    const timeout = await tq.waitFor(pending.id, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(timeout).toBeInstanceOf(WaitTimeoutError);
    expect((timeout as Error).message).toMatch(/still pending/);
  });

  it('reconnects with Last-Event-ID when the stream drops, and waitFor uses the stream, not polling', async () => {
    const events = (req: IncomingMessage, res: ServerResponse, body: string): void => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`retry: 10\n\n${body}`);
      void req;
    };
    const server = await scriptedServer((req, res, n) => {
      if (!req.url?.endsWith('/events'))
        return json(res, 500, { error: { code: 'x', message: 'no polling' } });
      const first = n % 2 === 1;
      if (first) {
        events(
          req,
          res,
          `event: task\nid: 100\ndata: ${JSON.stringify({ ...TASK, status: 'running', attempt: 1 })}\n\n` +
            `event: progress\nid: 150\ndata: ${JSON.stringify({ task_id: TASK.id, attempt: 1, percent: 50, message: 'half' })}\n\n`,
        );
        setTimeout(() => res.destroy(), 20); // the connection drops mid-task
      } else {
        events(
          req,
          res,
          `event: task\nid: 200\ndata: ${JSON.stringify({ ...TASK, status: 'succeeded', attempt: 1 })}\n\n`,
        );
      }
    });
    const client = new TaskQueueClient({ baseUrl: server.url });
    const seen: string[] = [];
    for await (const e of client.watch(TASK.id))
      seen.push(e.type === 'task' ? e.task.status : `${e.percent}% ${e.message}`);
    expect(seen).toEqual(['running', '50% half', 'succeeded']);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]?.headers['last-event-id']).toBeUndefined();
    // Resumes after the last task event, not the later progress event.
    expect(server.requests[1]?.headers['last-event-id']).toBe('100');
    expect(server.requests[1]?.headers.accept).toBe('text/event-stream');

    const done = await client.waitFor(TASK.id);
    expect(done.status).toBe('succeeded');
    expect(server.requests.slice(2).map((r) => r.url)).toEqual([
      `/v1/tasks/${TASK.id}/events`,
      `/v1/tasks/${TASK.id}/events`,
    ]);
  });
});

describe('retries', () => {
  it('retries a 503 after the Retry-After the server asked for, sending the token each time', async () => {
    const server = await scriptedServer((_req, res, n) =>
      n === 1
        ? json(
            res,
            503,
            { error: { code: 'unavailable', message: 'database unavailable' } },
            { 'retry-after': '1' },
          )
        : json(res, 200, TASK),
    );
    const client = new TaskQueueClient({ baseUrl: server.url, token: 'secret' });
    const started = Date.now();
    const task = await client.get(TASK.id);
    const waited = Date.now() - started;
    expect(task.id).toBe(TASK.id);
    expect(server.requests).toHaveLength(2);
    // The default first backoff is at most 250 ms: only the header explains a 1 s wait.
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(5_000);
    expect(server.requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer secret',
      'Bearer secret',
    ]);
  });

  it('retries a 429 too, and resubmits the same body', async () => {
    const bodies: string[] = [];
    const server = await scriptedServer((req, res, n) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(body);
        if (n <= 2)
          json(
            res,
            429,
            { error: { code: 'rate_limited', message: 'slow down' } },
            { 'retry-after': '0' },
          );
        else json(res, 201, TASK);
      });
    });
    const task = await new TaskQueueClient({ baseUrl: server.url }).submit({ command: 'echo hi' });
    expect(task.id).toBe(TASK.id);
    expect(bodies).toEqual([1, 2, 3].map(() => JSON.stringify({ command: 'echo hi' })));
  });

  it('gives up after the configured retries with the last ApiError', async () => {
    const server = await scriptedServer((_req, res) =>
      json(
        res,
        503,
        { error: { code: 'unavailable', message: 'database unavailable' } },
        { 'retry-after': '0' },
      ),
    );
    const err = await new TaskQueueClient({ baseUrl: server.url, retries: 2 })
      .get(TASK.id)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 503,
      code: 'unavailable',
      message: 'database unavailable',
      retryAfterMs: 0,
    });
    expect(server.requests).toHaveLength(3);
  });

  it('does not wait for a Retry-After longer than maxRetryDelayMs', async () => {
    const server = await scriptedServer((_req, res) =>
      json(
        res,
        429,
        { error: { code: 'rate_limited', message: 'slow down' } },
        { 'retry-after': '120' },
      ),
    );
    const started = Date.now();
    const err = await new TaskQueueClient({ baseUrl: server.url, maxRetryDelayMs: 5_000 })
      .get(TASK.id)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 429, retryAfterMs: 120_000 });
    expect(server.requests).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('never retries a 400', async () => {
    const server = await scriptedServer((_req, res) =>
      json(res, 400, {
        error: { code: 'validation', message: 'priority must be an integer', field: 'priority' },
      }),
    );
    const err = await new TaskQueueClient({ baseUrl: server.url })
      .submit({ command: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 400,
      code: 'validation',
      field: 'priority',
      message: 'priority must be an integer',
    });
    expect(server.requests).toHaveLength(1);
  });

  it('says so when the server cannot be reached', async () => {
    // A port that was free a moment ago: nothing listens there now.
    const closed = new URL('http://127.0.0.1');
    await new Promise<void>((r) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        closed.port = String((s.address() as AddressInfo).port);
        s.close(() => r());
      });
    });
    const err = await new TaskQueueClient({ baseUrl: closed.origin })
      .get(TASK.id)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ reason: 'connection refused', url: closed.origin });
    // A watch that never connected reports it at once, rather than reconnecting.
    const started = Date.now();
    const watched = await new TaskQueueClient({ baseUrl: closed.origin })
      .watch(TASK.id)
      .next()
      .catch((e: unknown) => e);
    expect(watched).toBeInstanceOf(ConnectionError);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(() => new TaskQueueClient({ baseUrl: 'localhost:8081' })).toThrow(/baseUrl/);
  });
});
