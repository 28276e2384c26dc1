import { v7 as uuidv7 } from 'uuid';
import { beforeAll, describe, expect, it } from 'vitest';
import { TaskQueueClient, type Task } from '../../src/client/index.js';
import { uuidV7Floor } from '../../src/store/read.js';
import { useSchema } from '../helpers/db.js';
import { inProcessScheduler } from '../helpers/inprocess.js';

/**
 * GET /v1/tasks filters on the server: status, queue, command, worker and a created window,
 * each with the total that matches (exact up to 10,000), and cursor paging across them.
 * Rows are written straight into the table where a test needs states or times that no
 * worker would produce quickly (a worker's history, tasks from yesterday).
 */
const db = await useSchema();
let client: TaskQueueClient;
let base = '';

beforeAll(async () => {
  const s = await inProcessScheduler(db, 'file');
  base = `http://127.0.0.1:${s.httpPort}`;
  client = new TaskQueueClient({ baseUrl: base, retries: 0 });
}, 60_000);

/** Inserts a task created at `createdMs`, with an id of that time, as a submit would. */
async function insertAt(
  createdMs: number,
  fields: { queue?: string; command?: string; status?: string; worker?: string; error?: string },
): Promise<string> {
  const id = uuidv7({ msecs: createdMs });
  const command = fields.command ?? 'echo hi';
  await db.pool.query(
    `INSERT INTO ${db.s}.tasks (id, queue, command, handler, status, scheduled_at, worker_id,
       error, created_at, updated_at, lease_expires_at)
     VALUES ($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0), $7, $8, to_timestamp($6 / 1000.0),
       to_timestamp($6 / 1000.0), CASE WHEN $5 = 'running' THEN now() + interval '1 hour' END)`,
    [
      id,
      fields.queue ?? 'default',
      command,
      command.split(' ')[0],
      fields.status ?? 'pending',
      createdMs,
      fields.worker ?? null,
      fields.error ?? null,
    ],
  );
  return id;
}

const ids = (page: { items: Task[] }) => page.items.map((t) => t.id);

async function get(query: string) {
  const res = await fetch(`${base}/v1/tasks?${query}`);
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe('task list filters', () => {
  const hour = 3_600_000;
  const day = 24 * hour;
  const t0 = Date.parse('2031-03-01T12:00:00Z') - 10 * day;
  const made: Record<string, string> = {};

  beforeAll(async () => {
    made.oldDead = await insertAt(t0, {
      queue: 'mail',
      command: 'send invoice-1',
      status: 'dead',
      worker: 'w-1',
      error: 'smtp timeout',
    });
    made.oldOk = await insertAt(t0 + hour, {
      queue: 'mail',
      command: 'send invoice-2',
      status: 'succeeded',
      worker: 'w-1',
    });
    made.running = await insertAt(t0 + 2 * hour, {
      queue: 'mail',
      command: 'send invoice-3',
      status: 'running',
      worker: 'w-1',
    });
    made.otherWorker = await insertAt(t0 + 3 * hour, {
      queue: 'images',
      command: 'resize a.png',
      status: 'succeeded',
      worker: 'w-2',
    });
    made.pending = await insertAt(t0 + day, { queue: 'images', command: 'resize b.png' });
  });

  it('filters by queue, reading running tasks too, with the total', async () => {
    const page = await client.list({ queue: 'mail' });
    expect(ids(page)).toEqual([made.running, made.oldOk, made.oldDead]);
    expect(page).toMatchObject({ total: 3, total_capped: false });
  });

  it('shows the last error of each task', async () => {
    const page = await client.list({ queue: 'mail', status: 'dead' });
    expect(page.items.map((t) => [t.id, t.error])).toEqual([[made.oldDead, 'smtp timeout']]);
    expect(page.total).toBe(1);
  });

  it('filters by handler, and by the whole command', async () => {
    expect(ids(await client.list({ command: 'resize' }))).toEqual([made.pending, made.otherWorker]);
    const one = await client.list({ command: 'send invoice-2' });
    expect(ids(one)).toEqual([made.oldOk]);
    expect(one.total).toBe(1);
  });

  it('filters by worker: the tasks whose latest attempt ran or runs on it', async () => {
    const page = await client.list({ worker: 'w-1' });
    expect(ids(page)).toEqual([made.running, made.oldOk, made.oldDead]);
    expect(page.total).toBe(3);
    expect(ids(await client.list({ worker: 'w-1', status: 'running' }))).toEqual([made.running]);
    expect((await client.list({ worker: 'nobody' })).total).toBe(0);
  });

  it('filters by a created window, in any offset, on created_at exactly', async () => {
    const page = await client.list({
      created_after: new Date(t0 + hour),
      created_before: '2031-02-19T16:00:00+01:00', // t0 + 3 h, excluded
    });
    expect(ids(page)).toEqual([made.running, made.oldOk]);
    expect(page.total).toBe(2);
    // A task whose id was stamped by a clock 30 s ahead of the database's is still found
    // by its created_at (the id range is widened by a minute).
    const skewed = uuidv7({ msecs: t0 + 5 * hour + 30_000 });
    await db.pool.query(
      `INSERT INTO ${db.s}.tasks (id, queue, command, handler, scheduled_at, created_at)
       VALUES ($1, 'skew', 'echo', 'echo', now(), to_timestamp($2 / 1000.0))`,
      [skewed, t0 + 5 * hour - 1],
    );
    expect(
      ids(await client.list({ queue: 'skew', created_before: new Date(t0 + 5 * hour) })),
    ).toEqual([skewed]);
    expect(
      ids(await client.list({ queue: 'skew', created_after: new Date(t0 + 5 * hour) })),
    ).toEqual([]);
  });

  it('pages with a cursor inside a filter; the total stays that of the filter', async () => {
    const first = await client.list({ queue: 'mail', limit: 2 });
    expect(ids(first)).toEqual([made.running, made.oldOk]);
    expect(first.next_cursor).not.toBeNull();
    const second = await client.list({ queue: 'mail', limit: 2, cursor: first.next_cursor! });
    expect(ids(second)).toEqual([made.oldDead]);
    expect(second).toMatchObject({ next_cursor: null, total: 3 });
  });

  it('skips the count with include_total=false', async () => {
    const page = await client.list({ queue: 'mail', include_total: false });
    expect(page).toMatchObject({ total: null, total_capped: false });
  });

  it('counts exactly up to 10,000, then says 10,000+', async () => {
    await client.submitBatch(
      Array.from({ length: 5000 }, () => ({ command: 'bulk-count', queue: 'many' })),
    );
    await client.submitBatch(
      Array.from({ length: 5000 }, () => ({ command: 'bulk-count', queue: 'many' })),
    );
    const exact = await client.list({ queue: 'many', limit: 1 });
    expect(exact).toMatchObject({ total: 10_000, total_capped: false });
    await client.submit({ command: 'bulk-count', queue: 'many' });
    const capped = await client.list({ queue: 'many', limit: 1 });
    expect(capped).toMatchObject({ total: 10_000, total_capped: true });
  });

  it('refuses bad filters with a 400 naming the parameter', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['created_after=yesterday', 'created_after', /created_after must be an RFC 3339 timestamp/],
      ['created_before=2031-02-30T00:00:00Z', 'created_before', /not a real date/],
      [
        'created_after=2031-01-02T00:00:00Z&created_before=2031-01-01T00:00:00Z',
        'created_before',
        /created_before must be later than created_after/,
      ],
      ['worker=', 'worker', /worker must not be empty/],
      ['include_total=maybe', 'include_total', /include_total/],
      ['status=finished', 'status', /status must be one of/],
    ];
    for (const [query, field, message] of cases) {
      const res = await get(query);
      expect(res.status, query).toBe(400);
      expect(res.body.error.field, query).toBe(field);
      expect(res.body.error.message, query).toMatch(message);
    }
  });
});

describe('uuidV7Floor', () => {
  it('sorts below every id stamped at or after its time, and above every earlier one', () => {
    const ms = Date.parse('2031-03-01T12:00:00.123Z');
    const floor = uuidV7Floor(ms);
    expect(floor < uuidv7({ msecs: ms })).toBe(true);
    expect(floor > uuidv7({ msecs: ms - 1 })).toBe(true);
    expect(uuidV7Floor(-5)).toBe('00000000-0000-0000-0000-000000000000');
  });
});
