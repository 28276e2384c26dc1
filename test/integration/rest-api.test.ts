import { connect } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { inProcessScheduler } from '../helpers/inprocess.js';

const db = await useSchema();
let base = '';

beforeAll(async () => {
  const s = await inProcessScheduler(db, 'file');
  base = `http://127.0.0.1:${s.httpPort}`;
});

async function call(
  method: string,
  path: string,
  body?: string | object,
  headers: Record<string, string> = {},
) {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : undefined };
}

describe('seed routes', () => {
  it('POST /schedule takes curl -d (form content type) and GET /status shows the task', async () => {
    const res = await fetch(`${base}/schedule`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '{"command":"echo hi", "scheduled_at":"2023-04-01T15:04:05Z"}',
    });
    expect(res.status).toBe(200);
    const created = (await res.json()) as {
      task_id: string;
      command: string;
      scheduled_at: string;
    };
    expect(created).toEqual({
      command: 'echo hi',
      scheduled_at: '2023-04-01T15:04:05.000Z',
      task_id: expect.any(String),
    });
    const status = await call('GET', `/status?task_id=${created.task_id}`);
    expect(status.status).toBe(200);
    // Timestamps not yet set are left out.
    expect(status.body).toEqual({
      task_id: created.task_id,
      command: 'echo hi',
      status: 'pending',
      scheduled_at: '2023-04-01T15:04:05.000Z',
    });
  });

  it('converts scheduled_at with an offset to UTC', async () => {
    const r = await call('POST', '/schedule', {
      command: 'echo tz',
      scheduled_at: '2023-12-24T22:34:00+05:30',
    });
    expect(r.body?.scheduled_at).toBe('2023-12-24T17:04:00.000Z');
  });

  it.each([
    ['not JSON', 'this is not json', 400, /not valid JSON/],
    ['an array', '[1,2]', 400, /JSON object/],
    ['an empty body', '', 400, /JSON object|empty/],
    ['no command', '{"scheduled_at":"2023-04-01T15:04:05Z"}', 400, /command is required/],
    [
      'no scheduled_at (the seed contract)',
      '{"command":"echo hi"}',
      400,
      /scheduled_at is required/,
    ],
    [
      'an empty command',
      '{"command":"","scheduled_at":"2023-04-01T15:04:05Z"}',
      400,
      /command must not be empty/,
    ],
    [
      'a blank command',
      '{"command":"   ","scheduled_at":"2023-04-01T15:04:05Z"}',
      400,
      /command must not be blank/,
    ],
    [
      'a number as command',
      '{"command":{"a":1},"scheduled_at":"2023-04-01T15:04:05Z"}',
      400,
      /command must be a string/,
    ],
    [
      'a bad timestamp',
      '{"command":"echo","scheduled_at":"yesterday"}',
      400,
      /scheduled_at must be an RFC 3339/,
    ],
    ['year 0', '{"command":"echo","scheduled_at":"0000-01-01T00:00:00Z"}', 400, /scheduled_at/],
    [
      'year 300000',
      '{"command":"echo","scheduled_at":"300000-01-01T00:00:00Z"}',
      400,
      /scheduled_at/,
    ],
    [
      'a misspelt field (the right name is the one required)',
      '{"command":"echo","sheduled_at":"2023-04-01T15:04:05Z"}',
      400,
      /scheduled_at is required/,
    ],
  ])(
    'POST /schedule with %s answers %i naming the problem',
    async (_what, body, status, message) => {
      const r = await call('POST', '/schedule', body);
      expect(r.status).toBe(status);
      expect(r.body?.error.message).toMatch(message);
    },
  );

  it('GET /status rejects a malformed id (400) and an unknown one (404)', async () => {
    expect((await call('GET', '/status?task_id=42')).status).toBe(400);
    expect((await call('GET', '/status')).body?.error.message).toMatch(/task_id is required/);
    const unknown = await call('GET', '/status?task_id=01900000-0000-7000-8000-000000000000');
    expect(unknown.status).toBe(404);
  });
});

describe('/v1/tasks', () => {
  it('creates a task with every option and reads it back', async () => {
    const r = await call('POST', '/v1/tasks', {
      command: 'resize photo.png',
      payload: { width: 100 },
      queue: 'images',
      priority: 7,
      run_at: '2031-01-01T00:00:00Z',
      max_attempts: 5,
      timeout_ms: 30000,
      backoff_ms: 500,
      backoff_max_ms: 10000,
      idempotency_key: 'img-1',
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      command: 'resize photo.png',
      payload: { width: 100 },
      queue: 'images',
      priority: 7,
      run_at: '2031-01-01T00:00:00.000Z',
      max_attempts: 5,
      timeout_ms: 30000,
      backoff_ms: 500,
      backoff_max_ms: 10000,
      status: 'pending',
      attempt: 0,
      idempotency_key: 'img-1',
    });
    const again = await call('POST', '/v1/tasks', {
      command: 'resize other.png',
      idempotency_key: 'img-1',
    });
    expect(again.status).toBe(200);
    expect(again.body?.id).toBe(r.body?.id);
    const got = await call('GET', `/v1/tasks/${r.body?.id}`);
    expect(got.body).toMatchObject({ id: r.body?.id, attempts: [] });
  });

  it('says when an idempotency key is reused, and which fields of the request were not applied', async () => {
    const post = (body: object) =>
      fetch(`${base}/v1/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const first = await post({
      command: 'echo a',
      payload: { b: 1, a: [2] },
      idempotency_key: 'reuse-1',
    });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const same = await post({
      command: 'echo a',
      payload: { a: [2], b: 1 },
      idempotency_key: 'reuse-1',
    });
    expect(same.status).toBe(200);
    expect(same.headers.get('idempotent-replayed')).toBe('true');
    expect(same.headers.get('idempotency-mismatch')).toBeNull();
    const other = await post({ command: 'echo b', queue: 'elsewhere', idempotency_key: 'reuse-1' });
    expect(other.status).toBe(200);
    expect(other.headers.get('idempotency-mismatch')).toBe('command, queue, payload');
    expect(((await other.json()) as { command: string }).command).toBe('echo a');
  });

  it('explains why a due task waits when no worker serves it', async () => {
    const r = await call('POST', '/v1/tasks', {
      command: 'nobody-serves-this now',
      queue: 'lonely',
    });
    const got = await call('GET', `/v1/tasks/${r.body?.id}`);
    expect(got.body?.waiting_for).toBe(
      "no connected worker handles 'nobody-serves-this' on queue 'lonely'",
    );
  });

  it('refuses a payload over 1 MiB with 413, and stores nothing', async () => {
    const before = await call('GET', '/v1/tasks?queue=big');
    const r = await call('POST', '/v1/tasks', {
      command: 'echo',
      queue: 'big',
      payload: 'x'.repeat(2 * 1024 * 1024),
    });
    expect(r.status).toBe(413);
    expect(r.body?.error.message).toMatch(/exceeds the limit/);
    expect((await call('GET', '/v1/tasks?queue=big')).body?.items).toEqual(before.body?.items);
  });

  it.each([
    [{ command: 'echo', priority: 'high' }, /priority must be an integer/],
    [{ command: 'echo', priority: 5000 }, /priority must be <= 1000/],
    [{ command: 'echo', max_attempts: 0 }, /max_attempts must be >= 1/],
    [{ command: 'echo', timeout_ms: -1 }, /timeout_ms must be >= 1/],
    [
      { command: 'echo', queue: 'has spaces' },
      /queue must be 1-64 letters, digits and _ . : -, not only dots/,
    ],
    [{ command: 'echo', run_at: '2023-04-01 15:04:05' }, /run_at must be an RFC 3339/],
    [
      { command: 'echo', backoff_ms: 5000, backoff_max_ms: 10 },
      /backoff_max_ms must be at least backoff_ms/,
    ],
    [{ command: 'x'.repeat(9000) }, /command must be at most 8192 characters/],
    [{ command: 'echo', idempotency_key: '' }, /idempotency_key must not be empty/],
  ])('POST /v1/tasks %j answers 400', async (body, message) => {
    const r = await call('POST', '/v1/tasks', body);
    expect(r.status).toBe(400);
    expect(r.body?.error.message).toMatch(message);
    expect(r.body?.error.field).toBeTruthy();
  });

  it('POST /v1/tasks/batch stores many tasks at once, in order', async () => {
    const tasks = Array.from({ length: 50 }, (_, i) => ({
      command: `echo ${i}`,
      queue: 'batch',
      payload: { i },
    }));
    const r = await call('POST', '/v1/tasks/batch', { tasks });
    expect(r.status).toBe(201);
    expect(r.body?.created).toBe(50);
    const items = r.body?.items as Array<{ id: string; created: boolean; status: string }>;
    expect(items).toHaveLength(50);
    const third = await call('GET', `/v1/tasks/${items[2]?.id}`);
    expect(third.body).toMatchObject({ command: 'echo 2', payload: { i: 2 }, status: 'pending' });
  });

  it('POST /v1/tasks/batch is all or none: one bad task names its index and nothing is stored', async () => {
    const before = (await call('GET', '/v1/tasks?queue=allornone')).body?.items;
    const r = await call('POST', '/v1/tasks/batch', {
      tasks: [
        { command: 'echo ok', queue: 'allornone' },
        { command: 'echo bad', queue: 'allornone', run_at: 'soon' },
      ],
    });
    expect(r.status).toBe(400);
    expect(r.body?.error.message).toMatch(/tasks\[1\]: run_at must be an RFC 3339/);
    expect(r.body?.error.field).toBe('tasks.1.run_at');
    expect((await call('GET', '/v1/tasks?queue=allornone')).body?.items).toEqual(before);
    expect((await call('POST', '/v1/tasks/batch', { tasks: [] })).status).toBe(400);
    const tooMany = await call('POST', '/v1/tasks/batch', {
      tasks: Array(5001).fill({ command: 'echo' }),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body?.error.message).toMatch(/tasks must NOT have more than 5000 items/);
  });

  it('GET /v1/tasks/:id rejects a malformed id and 404s an unknown one', async () => {
    const bad = await call('GET', '/v1/tasks/not-a-uuid');
    expect(bad.status).toBe(400);
    expect(bad.body?.error).toMatchObject({ field: 'id' });
    expect((await call('GET', '/v1/tasks/01900000-0000-7000-8000-000000000000')).status).toBe(404);
  });

  it('lists with filters and cursor paging, newest first, without gaps or repeats', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++)
      ids.push(
        (await call('POST', '/v1/tasks', { command: `echo ${i}`, queue: 'paged' })).body
          ?.id as string,
      );
    await call('POST', '/v1/tasks', { command: 'other x', queue: 'paged' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(
        'GET',
        `/v1/tasks?queue=paged&command=echo&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      seen.push(...(page.body?.items as Array<{ id: string }>).map((t) => t.id));
      cursor = page.body?.next_cursor as string | null;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const byStatus = await call('GET', '/v1/tasks?queue=paged&status=succeeded');
    expect(byStatus.body?.items).toEqual([]);
    expect((await call('GET', '/v1/tasks?status=done')).body?.error.message).toMatch(
      /status must be one of blocked, waiting, pending, running/,
    );
    expect((await call('GET', '/v1/tasks?limit=100000')).status).toBe(400);
    expect((await call('GET', '/v1/tasks?cursor=garbage')).body?.error.field).toBe('cursor');
  });

  it('finds a task by its idempotency key, and rejects an empty or overlong key', async () => {
    const made = await call('POST', '/v1/tasks', {
      command: 'echo keyed',
      idempotency_key: 'order-7731',
    });
    await call('POST', '/v1/tasks', { command: 'echo other', idempotency_key: 'order-7732' });
    const found = await call('GET', '/v1/tasks?idempotency_key=order-7731');
    expect(found.status).toBe(200);
    expect((found.body?.items as Array<{ id: string }>).map((t) => t.id)).toEqual([made.body?.id]);
    expect((await call('GET', '/v1/tasks?idempotency_key=nope')).body?.items).toEqual([]);
    const empty = await call('GET', '/v1/tasks?idempotency_key=');
    expect(empty.status).toBe(400);
    expect(empty.body?.error.field).toBe('idempotency_key');
    expect((await call('GET', `/v1/tasks?idempotency_key=${'k'.repeat(256)}`)).status).toBe(400);
  });

  it('runs a task scheduled for later now, and refuses tasks that are not pending', async () => {
    const later = await call('POST', '/v1/tasks', {
      command: 'echo later',
      run_at: '2031-01-01T00:00:00Z',
    });
    const id = later.body?.id as string;
    const before = Date.now();
    const now = await call('POST', `/v1/tasks/${id}/run-now`);
    expect(now.status).toBe(200);
    expect(now.body?.status).toBe('pending');
    expect(Date.parse(now.body?.run_at)).toBeLessThanOrEqual(Date.now() + 1000);
    expect(Date.parse(now.body?.run_at)).toBeGreaterThanOrEqual(before - 5000);
    // Already due: answered as it is, nothing moves.
    const again = await call('POST', `/v1/tasks/${id}/run-now`);
    expect(again.status).toBe(200);
    expect(again.body?.run_at).toBe(now.body?.run_at);
    expect(again.body?.updated_at).toBe(now.body?.updated_at);

    await call('POST', `/v1/tasks/${id}/cancel`);
    const cancelled = await call('POST', `/v1/tasks/${id}/run-now`);
    expect(cancelled.status).toBe(409);
    expect(cancelled.body?.error.message).toMatch(/is cancelled; .*retry it instead/);
    const stored = await call('GET', `/v1/tasks/${id}`);
    expect(stored.body?.status).toBe('cancelled');
    expect(
      (await call('POST', '/v1/tasks/01900000-0000-7000-8000-00000000dead/run-now')).status,
    ).toBe(404);
    const bad = await call('POST', '/v1/tasks/not-an-id/run-now');
    expect(bad.status).toBe(400);
    expect(bad.body?.error.field).toBe('id');
  });

  it('cancels a pending task, and answers 409 for one already finished', async () => {
    const t = (
      await call('POST', '/v1/tasks', { command: 'echo later', run_at: '2031-01-01T00:00:00Z' })
    ).body;
    const c = await call('POST', `/v1/tasks/${t?.id}/cancel`);
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({ status: 'cancelled', cancelled_at: expect.any(String) });
    const again = await call('POST', `/v1/tasks/${t?.id}/cancel`);
    expect(again.status).toBe(409);
  });
});

describe('/v1/tasks/:id/retry', () => {
  it('sends a cancelled task round again with a fresh set of attempts', async () => {
    const t = (
      await call('POST', '/v1/tasks', { command: 'echo again', run_at: '2031-01-01T00:00:00Z' })
    ).body;
    await call('POST', `/v1/tasks/${t?.id}/cancel`);
    const r = await call('POST', `/v1/tasks/${t?.id}/retry`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'pending',
      attempt: 0,
      max_attempts: 3,
      cancelled_at: null,
    });
    expect(Date.parse(r.body?.run_at as string)).toBeLessThanOrEqual(Date.now() + 1000);
    const asked = await call('POST', `/v1/tasks/${t?.id}/cancel`).then(() =>
      call('POST', `/v1/tasks/${t?.id}/retry`, { max_attempts: 7 }),
    );
    expect(asked.body?.max_attempts).toBe(7);
  });

  it('refuses pending tasks (409), unknown ids (404) and bad bodies (400)', async () => {
    const t = (
      await call('POST', '/v1/tasks', { command: 'echo pending', run_at: '2031-01-01T00:00:00Z' })
    ).body;
    const pending = await call('POST', `/v1/tasks/${t?.id}/retry`);
    expect(pending.status).toBe(409);
    expect(pending.body?.error.message).toMatch(/only dead or cancelled tasks can be retried/);
    expect(
      (await call('POST', '/v1/tasks/01900000-0000-7000-8000-000000000000/retry')).status,
    ).toBe(404);
    const bad = await call('POST', `/v1/tasks/${t?.id}/retry`, { max_attempts: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body?.error.field).toBe('max_attempts');
  });
});

describe('/v1/queues', () => {
  it("applies a queue's retry defaults to tasks that set none, and reports depth", async () => {
    const put = await call('PUT', '/v1/queues/billing', { max_attempts: 9, backoff_ms: 50 });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      name: 'billing',
      max_attempts: 9,
      backoff_ms: 50,
      backoff_max_ms: null,
      paused: false,
    });
    const inherits = (await call('POST', '/v1/tasks', { command: 'charge', queue: 'billing' }))
      .body;
    expect(inherits).toMatchObject({ max_attempts: 9, backoff_ms: 50, backoff_max_ms: 300000 });
    const own = (
      await call('POST', '/v1/tasks', { command: 'charge', queue: 'billing', max_attempts: 2 })
    ).body;
    expect(own?.max_attempts).toBe(2);
    const batch = await call('POST', '/v1/tasks/batch', {
      tasks: [{ command: 'charge', queue: 'billing' }],
    });
    const viaBatch = await call('GET', `/v1/tasks/${batch.body?.items[0].id}`);
    expect(viaBatch.body?.max_attempts).toBe(9);
    await call('POST', '/v1/tasks', {
      command: 'charge',
      queue: 'billing',
      run_at: '2031-01-01T00:00:00Z',
    });
    const q = await call('GET', '/v1/queues/billing');
    expect(q.body).toMatchObject({
      due: 3,
      scheduled: 1,
      running: 0,
      dead: 0,
      succeeded_last_minute: 0,
      failed_last_minute: 0,
    });
    expect(q.body?.oldest_due_age_ms).toBeGreaterThanOrEqual(0);
    const cleared = await call('PUT', '/v1/queues/billing', { max_attempts: null });
    expect(cleared.body).toMatchObject({ max_attempts: null, backoff_ms: 50 });
    const list = await call('GET', '/v1/queues');
    expect((list.body?.items as Array<{ name: string }>).map((x) => x.name)).toContain('billing');
  });

  it('pauses and resumes, and a due task in a paused queue says so', async () => {
    expect((await call('POST', '/v1/queues/frozen/pause')).body).toMatchObject({
      name: 'frozen',
      paused: true,
    });
    const t = (await call('POST', '/v1/tasks', { command: 'echo cold', queue: 'frozen' })).body;
    expect((await call('GET', `/v1/tasks/${t?.id}`)).body?.waiting_for).toBe(
      "queue 'frozen' is paused",
    );
    expect((await call('POST', '/v1/queues/frozen/resume')).body?.paused).toBe(false);
  });

  it('rejects bad queue names and settings', async () => {
    expect((await call('PUT', '/v1/queues/bad%20name', {})).status).toBe(400);
    const bad = await call('PUT', '/v1/queues/ok', { max_attempts: 'lots' });
    expect(bad.status).toBe(400);
    expect((await call('PUT', '/v1/queues/ok', { retries: 3 })).body?.error.message).toMatch(
      /unknown field 'retries'/,
    );
  });

  it('lists workers (none here)', async () => {
    expect((await call('GET', '/v1/workers')).body).toEqual({ items: [] });
  });
});

describe('service routes', () => {
  it('answers unreadable requests and bad path or query parameters in its own error format', async () => {
    // A raw non-ASCII character in the URL never reaches a route: Node's parser refuses it.
    const raw = await new Promise<string>((resolve, reject) => {
      const { port } = new URL(base);
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write(
          Buffer.from('GET /status?task_id=01a2\u2026 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
        ),
      );
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as {
      error: { message: string };
    };
    expect(body.error.message).toMatch(/percent-encode/);
    const list = await call('GET', '/v1/tasks?queue=bad%20queue');
    expect(list.status).toBe(400);
    expect(list.body?.error).toMatchObject({ field: 'queue' });
    expect(list.body?.error.message).toMatch(/^query parameter queue must be 1-64 letters/);
    const put = await call('PUT', '/v1/queues/bad%20q', { max_attempts: 2 });
    expect(put.status).toBe(400);
    expect(put.body?.error.message).toMatch(/^path parameter name must be 1-64 letters/);
  });

  it('serves health, readiness, an OpenAPI document listing every route, and JSON 404s', async () => {
    expect((await call('GET', '/healthz')).body).toEqual({ ok: true });
    expect((await call('GET', '/readyz')).body).toEqual({ ok: true, database: 'up' });
    const doc = await call('GET', '/docs/json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body?.paths as object).sort()).toEqual(
      [
        '/healthz',
        '/readyz',
        '/schedule',
        '/status',
        '/v1/tasks',
        '/v1/tasks/batch',
        '/v1/tasks/bulk/cancel',
        '/v1/tasks/bulk/retry',
        '/v1/tasks/{id}/run-now',
        '/v1/tasks/{id}/retry',
        '/v1/queues',
        '/v1/queues/{name}',
        '/v1/queues/{name}/pause',
        '/v1/queues/{name}/resume',
        '/v1/workers',
        '/v1/events',
        '/v1/stats',
        '/v1/schedules',
        '/v1/schedules/{ref}',
        '/v1/schedules/{ref}/pause',
        '/v1/schedules/{ref}/resume',
        '/v1/schedules/{ref}/trigger',
        '/v1/tasks/{id}/events',
        '/v1/tasks/{id}',
        '/v1/tasks/{id}/cancel',
        '/v1/workflows',
        '/v1/workflows/{id}',
        '/v1/workflows/{id}/cancel',
        '/v1/workflows/{id}/events',
      ].sort(),
    );
    const missing = await call('GET', '/nope');
    expect(missing.status).toBe(404);
    expect(missing.body?.error.code).toBe('not_found');
  });
});
