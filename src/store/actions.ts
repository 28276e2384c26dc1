import type pg from 'pg';
import type { Db } from './db.js';
import { TASK_DEFAULTS } from './insert.js';
import { withDeadlockRetry, withTransaction } from './db.js';
import { eventLine, eventsChannel, notifyChangesCte } from './events.js';
import { cancelChannel, cancelPayload, wakeChannel, wakePayload } from './channels.js';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.js';
import type { Task, TaskStatus } from './types.js';

/**
 * The statuses a cancel applies to: every task that has not ended, the workflow states
 * included (a `blocked` node, a `waiting` parent). Any other is left as it is.
 */
export const CANCELLABLE_STATUSES: readonly TaskStatus[] = [
  'blocked',
  'waiting',
  'pending',
  'running',
];

/** The statuses a retry (redrive) applies to; any other is left as it is. */
export const RETRYABLE_STATUSES: readonly TaskStatus[] = ['dead', 'cancelled'];

/** `status IN (…)` of a status list, for SQL (the statuses are our own constants). */
export function statusInSql(column: string, statuses: readonly TaskStatus[]): string {
  return `${column} IN (${statuses.map((s) => `'${s}'`).join(', ')})`;
}

/** The SET list of a cancel, for the one-task and the bulk statements alike. */
export const CANCEL_SET_SQL = `status = 'cancelled', cancelled_at = now(), lease_expires_at = NULL,
  updated_at = now()`;

/** How the attempt a cancel ends is recorded in task_attempts (outcome, error). */
export const CANCELLED_ATTEMPT_SQL = `'cancelled', 'cancelled by request'`;

/**
 * The CTE `history` of a cancel statement: records the attempt of each row of `source` (with
 * id, attempt, worker_id, picked_at, started_at and `previous`, its status before) that was
 * running as ended by the cancel. The statement must read from `history`'s sibling CTEs only;
 * PostgreSQL runs a data-modifying CTE whether or not it is read.
 */
export function cancelledAttemptsCte(db: Db, source: string): string {
  return `history AS (
    INSERT INTO ${db.s}.task_attempts
      (task_id, attempt, worker_id, picked_at, started_at, finished_at, outcome, error)
    SELECT id, attempt, worker_id, picked_at, started_at, now(), ${CANCELLED_ATTEMPT_SQL}
    FROM ${source} WHERE previous = 'running'
    ON CONFLICT DO NOTHING
  )`;
}

/**
 * Tells coordinators on the cancel channel that these attempts, running until now, were
 * cancelled, so their handlers' AbortSignals fire (delivered at commit). One payload per
 * attempt, written by channels.ts, where the coordinators parse it.
 */
export async function announceCancelledAttempts(
  client: pg.PoolClient,
  db: Db,
  attempts: Array<{ id: string; attempt: number }>,
): Promise<void> {
  if (attempts.length === 0) return;
  await client.query(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, [
    cancelChannel(db),
    attempts.map((r) => cancelPayload(r.id, r.attempt)),
  ]);
}

/**
 * The SET list of a retry of the row aliased `t`: pending, due now, with a fresh set of
 * attempts (the parameter `extraAttemptsParam`, else the queue's max_attempts, else the
 * default). The attempt counter keeps counting up, so earlier attempts stay fenced out.
 */
export function retrySetSql(db: Db, extraAttemptsParam: string): string {
  return `status = 'pending', scheduled_at = now(),
    max_attempts = t.attempt + coalesce(${extraAttemptsParam}::int, (SELECT max_attempts FROM ${db.s}.queues WHERE name = t.queue), ${TASK_DEFAULTS.maxAttempts}),
    cancelled_at = NULL, completed_at = NULL, worker_id = NULL, updated_at = now()`;
}

/** What a task action did: the task after it, and the status it had before. */
export interface ActionOutcome {
  task: Task;
  previous: TaskStatus;
}

/**
 * Cancels a task that has not ended. A running attempt is ended here, and coordinators are
 * told on the cancel channel so the worker's handler gets its AbortSignal; the worker's
 * late result is then fenced out because the task is no longer running. A waiting parent's
 * children that have not ended are cancelled with it ({@link cancelSpawnedBelow}); a
 * workflow node's dependents are the task_ended trigger's (0013_workflows.sql): its blocked
 * descendants are cancelled and the workflow's on_failure task runs.
 *
 * Retried on a deadlock: this locks a parent, then its children, and a child's completion
 * locks the child, then the parent it counts down.
 *
 * @returns the task after the change, and the status it had before; null when no such task.
 */
export async function cancelTask(db: Db, id: string): Promise<ActionOutcome | null> {
  return withDeadlockRetry(db, async (client) => {
    const locked = await lockTask(client, db, id);
    if (!locked) return null;
    const previous = locked.task.status;
    if (!CANCELLABLE_STATUSES.includes(previous)) return { task: locked.task, previous };
    const task = await change(
      client,
      db,
      `UPDATE ${db.s}.tasks SET ${CANCEL_SET_SQL} WHERE id = $1 RETURNING ${TASK_COLUMNS}`,
      [id],
    );
    if (previous === 'running') {
      await client.query(
        `INSERT INTO ${db.s}.task_attempts
           (task_id, attempt, worker_id, picked_at, started_at, finished_at, outcome, error)
         VALUES ($1, $2, $3, $4, $5, now(), ${CANCELLED_ATTEMPT_SQL})
         ON CONFLICT DO NOTHING`,
        [task.id, task.attempt, task.workerId, task.pickedAt, task.startedAt],
      );
      await client.query(`SELECT pg_notify($1, $2)`, [
        cancelChannel(db),
        cancelPayload(task.id, task.attempt),
      ]);
    }
    if (previous === 'waiting') await cancelSpawnedBelow(client, db, [task.id]);
    return { task, previous };
  });
}

/**
 * Cancels what the given tasks, just cancelled, were waiting for: the children they spawned
 * (ctx.waitFor) that have not ended, and theirs in turn, down every waiting child. Nothing
 * else waits for those children, so they could only run for nothing. Running ones are ended
 * as any cancel ends them: the attempt is recorded, and the handler told on the cancel
 * channel. Each cancelled child counts down its parent (the task_ended trigger), which stays
 * cancelled. Rows are locked in id order, as bulk actions lock them.
 *
 * @returns how many tasks it cancelled.
 */
export async function cancelSpawnedBelow(
  client: pg.PoolClient,
  db: Db,
  parentIds: string[],
): Promise<number> {
  if (parentIds.length === 0) return 0;
  const open = (column: string): string => statusInSql(column, CANCELLABLE_STATUSES);
  // Params: $1 the cancelled parents' ids, $2 the events channel
  const { rows } = await client.query<{ id: string; attempt: number; previous: TaskStatus }>(
    `WITH RECURSIVE below(id) AS (
       SELECT c.id FROM ${db.s}.tasks c WHERE c.parent_id = ANY ($1::uuid[]) AND ${open('c.status')}
       UNION
       SELECT c.id FROM ${db.s}.tasks c JOIN below b ON c.parent_id = b.id WHERE ${open('c.status')}
     ), locked AS (
       SELECT t.id, t.status AS previous FROM ${db.s}.tasks t JOIN below USING (id)
       WHERE ${open('t.status')}
       ORDER BY t.id FOR UPDATE OF t
     ), upd AS (
       UPDATE ${db.s}.tasks t SET ${CANCEL_SET_SQL},
         error = coalesce(t.error, 'cancelled with the task that waited for it')
       FROM locked l WHERE t.id = l.id
       RETURNING t.id, t.status, t.attempt, t.updated_at, t.queue, t.worker_id, t.picked_at,
         t.started_at, l.previous
     ), ${cancelledAttemptsCte(db, 'upd')}, ${notifyChangesCte(db, 'upd', '$2')}
     SELECT upd.id, upd.attempt, upd.previous FROM upd, (SELECT count(*) FROM notified) AS n`,
    [parentIds, eventsChannel(db)],
  );
  await announceCancelledAttempts(
    client,
    db,
    rows.filter((r) => r.previous === 'running'),
  );
  return rows.length;
}

/**
 * Sends a dead or cancelled task round again (redrive): pending, due now, with a fresh set
 * of attempts (`extraAttempts`, else the queue's max_attempts, else 3). The attempt counter
 * keeps counting up, so results of earlier attempts stay fenced out.
 *
 * @returns the task after the change and its status before; null when no such task.
 */
export async function retryTask(
  db: Db,
  id: string,
  extraAttempts: number | null,
): Promise<ActionOutcome | null> {
  return withTransaction(db, async (client) => {
    const locked = await lockTask(client, db, id);
    if (!locked) return null;
    const previous = locked.task.status;
    if (!RETRYABLE_STATUSES.includes(previous)) return { task: locked.task, previous };
    const task = await change(
      client,
      db,
      `UPDATE ${db.s}.tasks t SET ${retrySetSql(db, '$2')} WHERE id = $1 RETURNING ${TASK_COLUMNS}`,
      [id, extraAttempts],
    );
    await wakeCoordinators(client, db, task);
    return { task, previous };
  });
}

/**
 * Makes a pending task due now: one scheduled for later, or waiting out a retry backoff.
 * A task already due is left as it is. Other statuses change nothing.
 *
 * @returns the task after the change and its status before; null when no such task.
 */
export async function runNowTask(db: Db, id: string): Promise<ActionOutcome | null> {
  return withTransaction(db, async (client) => {
    const locked = await lockTask(client, db, id);
    if (!locked) return null;
    const previous = locked.task.status;
    if (previous !== 'pending' || !locked.later) return { task: locked.task, previous };
    const task = await change(
      client,
      db,
      `UPDATE ${db.s}.tasks SET scheduled_at = now(), updated_at = now()
       WHERE id = $1 RETURNING ${TASK_COLUMNS}`,
      [id],
    );
    await wakeCoordinators(client, db, task);
    return { task, previous };
  });
}

/**
 * Locks a task's row for an action, and reads it (with whether it is due later than now,
 * by the database clock). Null when there is no such task.
 */
async function lockTask(
  client: pg.PoolClient,
  db: Db,
  id: string,
): Promise<{ task: Task; later: boolean } | null> {
  const { rows } = await client.query<TaskRow & { later: boolean }>(
    `SELECT ${TASK_COLUMNS}, scheduled_at > now() AS later FROM ${db.s}.tasks WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = rows[0];
  return row ? { task: toTask(row), later: row.later } : null;
}

/**
 * Runs an action's UPDATE (which must return TASK_COLUMNS) and announces the task's new
 * status on the events channel. One-task actions are rare: they always announce.
 */
async function change(
  client: pg.PoolClient,
  db: Db,
  sql: string,
  values: unknown[],
): Promise<Task> {
  const { rows } = await client.query<TaskRow>(sql, values);
  const t = toTask(rows[0] as TaskRow);
  await client.query(`SELECT pg_notify($1, $2)`, [
    eventsChannel(db),
    eventLine({
      taskId: t.id,
      kind: t.status,
      attempt: t.attempt,
      at: t.updatedAt.getTime(),
      queue: t.queue,
    }),
  ]);
  return t;
}

/** Tells coordinators the task is due (delivered at commit). */
async function wakeCoordinators(client: pg.PoolClient, db: Db, t: Task): Promise<void> {
  await client.query(`SELECT pg_notify($1, $2)`, [
    wakeChannel(db),
    wakePayload(t.scheduledAt, t.queue),
  ]);
}
