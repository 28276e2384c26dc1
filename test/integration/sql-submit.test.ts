import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import { submitTask, taskStatus, type SqlTask } from '../../src/sql/index.js';
import { grantSqlSubmit } from '../../src/store/sql-access.js';
import { databaseUrl, useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';
import { until } from '../helpers/wait.js';

/**
 * taskq.submit(): enqueue inside the application's own transaction, on its own connection.
 */
const db = await useSchema();
const api = new TasksApi(db);
const opts = { schema: db.schema };

async function withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: databaseUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Wake notifications heard while `fn` runs (and a moment after). */
async function wakesDuring(fn: () => Promise<void>): Promise<string[]> {
  return withClient(async (listener) => {
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.payload ?? ''));
    await listener.query(`LISTEN "${db.schema}_wake"`);
    await fn();
    await new Promise((r) => setTimeout(r, 300));
    return heard;
  });
}

describe('taskq.submit()', () => {
  it('creates the task and wakes the coordinators only when the transaction commits', async () => {
    let rolledBack = '';
    const wakesRollback = await wakesDuring(() =>
      withClient(async (c) => {
        await c.query('BEGIN');
        rolledBack = await submitTask(c, { command: 'echo never', queue: 'sql-tx' }, opts);
        await c.query('ROLLBACK');
      }),
    );
    expect(rolledBack).toMatch(/^[0-9a-f-]{36}$/);
    expect(await taskStatus(db.pool, rolledBack, opts)).toBeNull();
    expect(wakesRollback).toEqual([]);

    let committed = '';
    const wakesCommit = await wakesDuring(() =>
      withClient(async (c) => {
        await c.query('BEGIN');
        committed = await submitTask(
          c,
          { command: 'echo yes', queue: 'sql-tx', payload: { n: 1 } },
          opts,
        );
        await c.query('COMMIT');
      }),
    );
    expect(wakesCommit).toHaveLength(1);
    expect(wakesCommit[0]).toMatch(/^\d+:sql-tx$/);
    const t = (await api.get(committed)).task;
    expect(t).toMatchObject({
      command: 'echo yes',
      queue: 'sql-tx',
      payload: { n: 1 },
      status: 'pending',
    });
    // A uuid v7, like the API's: its first 48 bits are the creation time.
    const ms = parseInt(committed.replace(/-/g, '').slice(0, 12), 16);
    expect(Math.abs(ms - t.createdAt.getTime())).toBeLessThan(5_000);
    expect(committed[14]).toBe('7');
  });

  it('is run by a worker like any task', async () => {
    const c = await inProcessCoordinator(db);
    await inProcessWorker(c, { queues: ['sql-run'] });
    const id = await submitTask(db.pool, { command: 'echo from sql', queue: 'sql-run' }, opts);
    await until(async () => (await taskStatus(db.pool, id, opts))?.status === 'succeeded');
  });

  it('applies the API rules and defaults: the same tasks are refused both ways, naming the field', async () => {
    await db.pool.query(
      `INSERT INTO ${db.s}.queues (name, max_attempts, backoff_base_ms) VALUES ('sql-defaults', 7, 250)`,
    );
    const viaSql = await submitTask(db.pool, { command: 'echo d', queue: 'sql-defaults' }, opts);
    const viaApi = (await api.submit({ command: 'echo d', queue: 'sql-defaults' })).task.id;
    const [s, a] = await Promise.all([api.get(viaSql), api.get(viaApi)]);
    for (const k of [
      'maxAttempts',
      'backoffBaseMs',
      'backoffMaxMs',
      'priority',
      'handler',
    ] as const)
      expect(s.task[k], k).toEqual(a.task[k]);

    const cases: Array<[SqlTask, string]> = [
      [{ command: '   ' }, 'command'],
      [{ command: 'x'.repeat(8193) }, 'command'],
      [{ command: 'echo', queue: '..' }, 'queue'],
      [{ command: 'echo', queue: 'bad queue' }, 'queue'],
      [{ command: 'echo', priority: 1001 }, 'priority'],
      [{ command: 'echo', priority: 1.5 }, 'priority'],
      [{ command: 'echo', run_at: 'tomorrow' }, 'run_at'],
      [{ command: 'echo', run_at: '0000-01-01T00:00:00Z' }, 'run_at'],
      [{ command: 'echo', max_attempts: 0 }, 'max_attempts'],
      [{ command: 'echo', max_attempts: 101 }, 'max_attempts'],
      [{ command: 'echo', timeout_ms: 0 }, 'timeout_ms'],
      [{ command: 'echo', backoff_ms: 500, backoff_max_ms: 100 }, 'backoff_max_ms'],
      [{ command: 'echo', idempotency_key: '' }, 'idempotency_key'],
      [{ command: 'echo', idempotency_key: 'k'.repeat(256) }, 'idempotency_key'],
      [{ command: 'echo', payload: 'p'.repeat(1024 * 1024 + 10) }, 'payload'],
    ];
    for (const [task, field] of cases) {
      const apiErr = await api.submit(task).then(
        () => null,
        (e: { field?: string; message: string }) => e,
      );
      const sqlErr = await submitTask(db.pool, task, opts).then(
        () => null,
        (e: { code?: string; message: string }) => e,
      );
      const what = JSON.stringify(task).slice(0, 80);
      expect(apiErr, `API accepted ${what}`).not.toBeNull();
      expect(apiErr?.field ?? '', what).toContain(field);
      expect(sqlErr, `SQL accepted ${what}`).not.toBeNull();
      expect(sqlErr?.code, what).toBe('22023');
      expect(sqlErr?.message, what).toContain(field);
    }
    const unknown = await submitTask(
      db.pool,
      { command: 'echo', colour: 'red' } as SqlTask,
      opts,
    ).catch((e: Error) => e);
    expect((unknown as Error).message).toMatch(/unknown option "colour"/);
  });

  it('takes rate_key and group, as the API does, and refuses requires', async () => {
    const id = await submitTask(
      db.pool,
      { command: 'echo r', queue: 'sql-fair', rate_key: 'acct-7', group: 'acme' },
      opts,
    );
    expect((await api.get(id)).task).toMatchObject({ rateKey: 'acct-7', group: 'acme' });
    const requires = await submitTask(
      db.pool,
      { command: 'echo', requires: { gpu: 'true' } } as SqlTask,
      opts,
    ).catch((e: Error) => e);
    expect((requires as Error).message).toMatch(/unknown option "requires"/);
  });

  it('honours idempotency keys, across the API and SQL', async () => {
    const key = `sql-key-${randomBytes(4).toString('hex')}`;
    const first = await submitTask(db.pool, { command: 'echo k', idempotency_key: key }, opts);
    const again = await submitTask(db.pool, { command: 'echo k', idempotency_key: key }, opts);
    const viaApi = await api.submit({ command: 'echo k', idempotency_key: key });
    expect(again).toBe(first);
    expect(viaApi.created).toBe(false);
    expect(viaApi.task.id).toBe(first);
  });

  it('needs no right on the tables: a role granted the functions can enqueue and read by id, nothing more', async () => {
    const role = `tq_app_${randomBytes(4).toString('hex')}`;
    try {
      await db.pool.query(`CREATE ROLE ${role} NOLOGIN`);
    } catch (err) {
      // A DATABASE_URL user without CREATEROLE: nothing to prove here.
      expect((err as { code?: string }).code).toBe('42501');
      return;
    }
    try {
      await grantSqlSubmit(db, role);
      await withClient(async (c) => {
        await c.query('BEGIN');
        await c.query(`SET LOCAL ROLE ${role}`);
        const id = await submitTask(c, { command: 'echo as app' }, opts);
        expect((await taskStatus(c, id, opts))?.status).toBe('pending');
        const denied = await c
          .query(`SELECT count(*) FROM ${db.s}.tasks`)
          .catch((e: { code?: string }) => e);
        expect((denied as { code?: string }).code).toBe('42501');
        await c.query('ROLLBACK');
      });
      await expect(grantSqlSubmit(db, 'x; DROP TABLE y')).rejects.toThrow(/plain identifier/);
    } finally {
      await db.pool.query(`DROP OWNED BY ${role}`);
      await db.pool.query(`DROP ROLE ${role}`);
    }
  });
});
