import type pg from 'pg';
import type { Db } from './db.js';
import { TASK_DEFAULTS } from './insert.js';
import { withTransaction } from './db.js';
import { eventLine, eventsChannel } from './events.js';
import { cancelChannel, cancelPayload, wakeChannel, wakePayload } from './channels.js';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.js';
import type { Task, TaskStatus } from './types.js';

/** The statuses a cancel applies to; any other is left as it is. */
export const CANCELLABLE_STATUSES: readonly TaskStatus[] = ['pending', 'running'];

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
 * Cancels a pending or running task. A running attempt is ended here, and coordinators are
 * told on the cancel channel so the worker's handler gets its AbortSignal; the worker's
 * late result is then fenced out because the task is no longer running.
 *
 * @returns the task after the change, and the status it had before; null when no such task.
 */
export async function cancelTask(db: Db, id: string): Promise<ActionOutcome | null> {
  return withTransaction(db, async (client) => {
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
    return { task, previous };
  });
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
