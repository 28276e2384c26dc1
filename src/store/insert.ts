import type pg from 'pg';
import type { Db } from './db.js';
import { eventsChannel, notifyChangesCte } from './events.js';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.js';
import { wakeChannel, wakePayloadSql } from './channels.js';
import type { NewTask, Task } from './types.js';

/**
 * What a task's settings fall back to when neither the task nor its queue's row in `queues`
 * sets them. The one place these defaults live (the API documents them by reference).
 */
export const TASK_DEFAULTS = {
  maxAttempts: 3,
  backoffBaseMs: 1000,
  backoffMaxMs: 300_000,
} as const;
const DEFAULT_MAX_ATTEMPTS = TASK_DEFAULTS.maxAttempts;
const DEFAULT_BACKOFF_BASE_MS = TASK_DEFAULTS.backoffBaseMs;
const DEFAULT_BACKOFF_MAX_MS = TASK_DEFAULTS.backoffMaxMs;

/** The outcome of inserting one task of a batch, in input order. */
export interface BatchInsertResult {
  id: string;
  status: Task['status'];
  /** False when an existing task held the idempotency key. */
  created: boolean;
}

/** Columns the statement's notifications read from the inserted rows. */
const NOTIFIED_COLUMNS = 'id, queue, scheduled_at, status, attempt, updated_at';

/**
 * Inserts many tasks in one statement (unnest), and wakes coordinators once per queue.
 * Tasks whose idempotency key exists, in the table or earlier in the same batch, are not
 * inserted. Returns the rows inserted, with the columns `select` names: only those travel
 * back (parsing 5000 unused timestamps costs more than building the rows).
 */
async function insertRows<R extends { id: string }>(
  db: Db,
  tasks: NewTask[],
  select: 'summary' | 'full',
  client: pg.Pool | pg.PoolClient = db.pool,
): Promise<R[]> {
  // Workflow nodes, spawned children, tasks that require worker labels and tasks with a rate
  // key, a group or a sticky key carry nine more columns. Plain submits, the hot path, keep a statement
  // without them.
  const graph = tasks.some(
    (t) =>
      t.workflowId ||
      t.parentId ||
      (t.waitingOn ?? 0) > 0 ||
      t.hasDependents ||
      t.requires ||
      t.rateKey ||
      t.group ||
      t.stickyKey,
  );
  // Insert a batch of tasks, then one NOTIFY per queue with its earliest due time.
  // Params: $1 ids, $2 queues, $3 commands, $4 handlers, $5 payloads (json text), $6 priorities,
  // $7 run_at (null = now), $8 max_attempts, $9 timeout_ms, $10 backoff_base_ms,
  // $11 backoff_max_ms (nulls take the queue's setting, then the default), $12 idempotency keys,
  // $13 wake channel, $14 events channel, $15 concurrency keys, $16 trace contexts; with
  // `graph`, $17 workflow ids, $18 workflow keys, $19 parent ids, $20 waiting_on (above 0 starts
  // the task blocked), $21 has_dependents, $22 required labels (json text), $23 rate keys,
  // $24 groups, $25 sticky keys ('' for none)
  const { rows } = await client.query<R>({
    name: `taskq_insert_${select}${graph ? '_graph' : ''}_${db.schema}`,
    text: `
      WITH input AS (
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
          $7::timestamptz[], $8::int[], $9::int[], $10::int[], $11::int[], $12::text[], $15::text[], $16::text[]
          ${graph ? ', $17::uuid[], $18::text[], $19::uuid[], $20::int[], $21::bool[], $22::text[], $23::text[], $24::text[], $25::text[]' : ''})
          WITH ORDINALITY AS i(id, queue, command, handler, payload, priority, run_at, max_attempts,
            timeout_ms, backoff_base_ms, backoff_max_ms, idempotency_key, concurrency_key, trace_context,
            ${graph ? 'workflow_id, workflow_key, parent_id, waiting_on, has_dependents, requires, rate_key, group_key, sticky_key,' : ''} ord)
      ), ins AS (
        INSERT INTO ${db.s}.tasks (id, queue, command, handler, payload, priority, scheduled_at,
          max_attempts, timeout_ms, backoff_base_ms, backoff_max_ms, idempotency_key, concurrency_key,
          trace_context
          ${graph ? ', workflow_id, workflow_key, parent_id, waiting_on, has_dependents, requires, rate_key, group_key, sticky_key, status' : ''})
        SELECT i.id, i.queue, i.command, i.handler, i.payload::jsonb, i.priority,
          coalesce(i.run_at, now()), coalesce(i.max_attempts, q.max_attempts, ${DEFAULT_MAX_ATTEMPTS}),
          i.timeout_ms, coalesce(i.backoff_base_ms, q.backoff_base_ms, ${DEFAULT_BACKOFF_BASE_MS}),
          coalesce(i.backoff_max_ms, q.backoff_max_ms, ${DEFAULT_BACKOFF_MAX_MS}), i.idempotency_key,
          i.concurrency_key, i.trace_context
          ${
            graph
              ? `, i.workflow_id, i.workflow_key, i.parent_id, i.waiting_on, i.has_dependents,
                 i.requires::jsonb, i.rate_key, i.group_key, i.sticky_key,
                 CASE WHEN i.waiting_on > 0 THEN 'blocked' ELSE 'pending' END`
              : ''
          }
        FROM input i LEFT JOIN ${db.s}.queues q ON q.name = i.queue
        ORDER BY i.ord
        ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING ${select === 'full' ? TASK_COLUMNS : NOTIFIED_COLUMNS}
      ), woken AS (
        SELECT pg_notify($13, ${wakePayloadSql('min(scheduled_at)', 'queue')})
        FROM ins ${graph ? "WHERE status = 'pending'" : ''} GROUP BY queue
      ), ${notifyChangesCte(db, 'ins', '$14')}
      -- Joined only so that the notifications are sent: an unreferenced CTE never runs.
      SELECT ${select === 'full' ? 'ins.*' : 'ins.id, ins.status'}
      FROM ins, (SELECT count(*) FROM woken) AS w, (SELECT count(*) FROM notified) AS n`,
    values: [
      tasks.map((t) => t.id),
      tasks.map((t) => t.queue),
      tasks.map((t) => t.command),
      tasks.map((t) => t.handler),
      tasks.map((t) => t.payloadJson ?? (t.payload == null ? null : JSON.stringify(t.payload))),
      tasks.map((t) => t.priority),
      tasks.map((t) => t.runAt),
      tasks.map((t) => t.maxAttempts),
      tasks.map((t) => t.timeoutMs),
      tasks.map((t) => t.backoffBaseMs),
      tasks.map((t) => t.backoffMaxMs),
      tasks.map((t) => t.idempotencyKey),
      wakeChannel(db),
      eventsChannel(db),
      tasks.map((t) => t.concurrencyKey),
      tasks.map((t) => t.traceContext ?? null),
      ...(graph
        ? [
            tasks.map((t) => t.workflowId ?? null),
            tasks.map((t) => t.workflowKey ?? null),
            tasks.map((t) => t.parentId ?? null),
            tasks.map((t) => t.waitingOn ?? 0),
            tasks.map((t) => t.hasDependents ?? false),
            tasks.map((t) => (t.requires ? JSON.stringify(t.requires) : null)),
            tasks.map((t) => t.rateKey ?? ''),
            tasks.map((t) => t.group ?? ''),
            tasks.map((t) => t.stickyKey ?? ''),
          ]
        : []),
    ],
  });
  return rows;
}

/** Idempotency keys of `tasks` that were not inserted (their key was taken). */
function takenKeys(tasks: NewTask[], inserted: Set<string>): string[] {
  return tasks
    .filter((t) => !inserted.has(t.id) && t.idempotencyKey !== null)
    .map((t) => t.idempotencyKey as string);
}

/**
 * Inserts many tasks in one statement; see {@link insertRows}. For a task whose idempotency
 * key was taken, reports the task that holds it. Answers in input order. Every task, from the
 * API, a cron tick or anywhere else, is created by this statement, on the pool or on the
 * client of a transaction it belongs to.
 */
export async function insertTasks(
  db: Db,
  tasks: NewTask[],
  client: pg.Pool | pg.PoolClient = db.pool,
): Promise<BatchInsertResult[]> {
  if (tasks.length === 0) return [];
  const rows = await insertRows<{ id: string; status: Task['status'] }>(
    db,
    tasks,
    'summary',
    client,
  );
  const inserted = new Map(rows.map((r) => [r.id, r.status]));
  const keys = takenKeys(tasks, new Set(inserted.keys()));
  const existing = new Map<string, { id: string; status: Task['status'] }>();
  if (keys.length > 0) {
    const found = await client.query<{
      id: string;
      status: Task['status'];
      idempotency_key: string;
    }>(
      `SELECT id, status, idempotency_key FROM ${db.s}.tasks WHERE idempotency_key = ANY ($1::text[])`,
      [keys],
    );
    for (const r of found.rows) existing.set(r.idempotency_key, { id: r.id, status: r.status });
  }
  return tasks.map((t) => {
    const status = inserted.get(t.id);
    if (status) return { id: t.id, status, created: true };
    const prior = t.idempotencyKey === null ? undefined : existing.get(t.idempotencyKey);
    if (!prior)
      throw new Error(`task ${t.id} was neither inserted nor found by its idempotency key`);
    return { id: prior.id, status: prior.status, created: false };
  });
}

/** Like {@link insertTasks}, answering each with the whole task (new, or the one holding its key). */
export async function insertTasksReturning(
  db: Db,
  tasks: NewTask[],
): Promise<Array<{ task: Task; created: boolean }>> {
  if (tasks.length === 0) return [];
  const rows = await insertRows<TaskRow>(db, tasks, 'full');
  const inserted = new Map(rows.map((r) => [r.id, toTask(r)]));
  const keys = takenKeys(tasks, new Set(inserted.keys()));
  const existing = new Map<string, Task>();
  if (keys.length > 0) {
    // ON CONFLICT waited for the other insert to commit, so the row is visible.
    const found = await db.pool.query<TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM ${db.s}.tasks WHERE idempotency_key = ANY ($1::text[])`,
      [keys],
    );
    for (const r of found.rows) existing.set(r.idempotency_key as string, toTask(r));
  }
  return tasks.map((t) => {
    const task = inserted.get(t.id);
    if (task) return { task, created: true };
    const prior = t.idempotencyKey === null ? undefined : existing.get(t.idempotencyKey);
    if (!prior)
      throw new Error(`task ${t.id} was neither inserted nor found by its idempotency key`);
    return { task: prior, created: false };
  });
}

/** Inserts one task, or returns the one holding its idempotency key. */
export async function insertTask(db: Db, t: NewTask): Promise<{ task: Task; created: boolean }> {
  return (await insertTasksReturning(db, [t]))[0] as { task: Task; created: boolean };
}
