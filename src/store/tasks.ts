import type { Db } from './db.js';

/** Where a task is in its life. See DESIGN.md §2. */
export type TaskStatus = 'pending' | 'running' | 'succeeded' | 'dead' | 'cancelled';

export const TASK_STATUSES: readonly TaskStatus[] = [
  'pending',
  'running',
  'succeeded',
  'dead',
  'cancelled',
];
export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set([
  'succeeded',
  'dead',
  'cancelled',
]);

/** One task row. */
export interface Task {
  id: string;
  queue: string;
  command: string;
  handler: string;
  payload: unknown;
  priority: number;
  status: TaskStatus;
  /** When the task is due (the API's run_at, the seed's scheduled_at). */
  scheduledAt: Date;
  attempt: number;
  maxAttempts: number;
  timeoutMs: number | null;
  backoffBaseMs: number;
  backoffMaxMs: number;
  workerId: string | null;
  leaseExpiresAt: Date | null;
  idempotencyKey: string | null;
  result: unknown;
  error: string | null;
  executor: string | null;
  pickedAt: Date | null;
  startedAt: Date | null;
  completedAt: Date | null;
  failedAt: Date | null;
  cancelledAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** Latest progress the running attempt reported (0 to 100), if any. */
  progressPercent: number | null;
  progressMessage: string | null;
  concurrencyKey: string | null;
}

/** A validated task to insert. */
export interface NewTask {
  id: string;
  queue: string;
  command: string;
  handler: string;
  payload: unknown;
  /** The payload as JSON text, when the caller already has it; else it is serialised here. */
  payloadJson?: string | null;
  priority: number;
  /** Null means now (the database clock). */
  runAt: Date | null;
  /** Null: the queue's setting, else 3. */
  maxAttempts: number | null;
  timeoutMs: number | null;
  /** Null: the queue's setting, else 1000. */
  backoffBaseMs: number | null;
  /** Null: the queue's setting, else 300000. */
  backoffMaxMs: number | null;
  idempotencyKey: string | null;
  /** Limits how many tasks with the same key run at once (the queue's key_concurrency_limit). */
  concurrencyKey: string | null;
  /** W3C traceparent of the submit span, when tracing. */
  traceContext?: string | null;
}

/** What a claim hands to a worker. */
export interface ClaimedTask {
  id: string;
  attempt: number;
  workerId: string;
  command: string;
  /** The payload as JSON text, passed through to the worker without a parse. */
  payloadJson: string | null;
  queue: string;
  timeoutMs: number | null;
  maxAttempts: number;
  scheduledAt: Date;
  /**
   * When the task became due here: the later of its run_at (or retry time) and its creation.
   * A task submitted with a run_at in the past has waited only since it was submitted.
   */
  dueAt: Date;
  /** The submit span's traceparent, when the task was traced. */
  traceContext: string | null;
}

/** One attempt of one task. */
export interface AttemptRef {
  id: string;
  attempt: number;
}

/**
 * An attempt as a worker reports it. `workerId` is the worker of the stream the report came
 * on, never a field of the message: the fence matches it only while that worker holds the
 * attempt, so no other worker can finish, start, extend or report progress on it.
 */
export interface HeldAttempt extends AttemptRef {
  workerId: string;
}

/** A finished attempt to record. */
export interface AttemptResult extends HeldAttempt {
  ok: boolean;
  /** JSON text of the handler's return value, or null. */
  resultJson: string | null;
  error: string | null;
  /** False when the handler said not to retry. */
  retryable: boolean;
  executor: string;
  /** 'error' or 'timeout' for failures. */
  failure: 'error' | 'timeout' | null;
  /** The worker's clock when the handler started; clamped like {@link markStarted}. */
  startedAt: Date | null;
}

/** The outcome of recording one result. */
export interface CompletedAttempt extends HeldAttempt {
  status: TaskStatus;
  /** For a retry (status pending): when it is due again. */
  scheduledAt: Date;
  queue: string;
  handler: string;
  /** When the handler started (clamped to the task's own timeline), if known. */
  startedAt: Date | null;
  /** For a failed attempt: 'error' or 'timeout'. */
  failure: 'error' | 'timeout' | null;
  traceContext: string | null;
}

/** A task returned to pending (or dead) by the reaper. */
export interface ReapedTask extends AttemptRef {
  status: TaskStatus;
  workerId: string | null;
  queue: string;
  handler: string;
  /** When it may run again (its retry backoff), if it went back to pending. */
  scheduledAt: Date;
}

/** Every column of tasks, in the order TaskRow expects. */
export const TASK_COLUMNS = `id, queue, command, handler, payload, priority, status, scheduled_at, attempt,
  max_attempts, timeout_ms, backoff_base_ms, backoff_max_ms, worker_id, lease_expires_at,
  idempotency_key, result, error, executor, picked_at, started_at, completed_at, failed_at,
  cancelled_at, created_at, updated_at, progress_percent, progress_message, concurrency_key`;

/** A tasks row as pg returns it. */
export interface TaskRow {
  id: string;
  queue: string;
  command: string;
  handler: string;
  payload: unknown;
  priority: number;
  status: TaskStatus;
  scheduled_at: Date;
  attempt: number;
  max_attempts: number;
  timeout_ms: number | null;
  backoff_base_ms: number;
  backoff_max_ms: number;
  worker_id: string | null;
  lease_expires_at: Date | null;
  idempotency_key: string | null;
  result: unknown;
  error: string | null;
  executor: string | null;
  picked_at: Date | null;
  started_at: Date | null;
  completed_at: Date | null;
  failed_at: Date | null;
  cancelled_at: Date | null;
  created_at: Date;
  updated_at: Date;
  progress_percent: number | null;
  progress_message: string | null;
  concurrency_key: string | null;
}

/** A row as the domain type. */
export function toTask(r: TaskRow): Task {
  return {
    id: r.id,
    queue: r.queue,
    command: r.command,
    handler: r.handler,
    payload: r.payload,
    priority: r.priority,
    status: r.status,
    scheduledAt: r.scheduled_at,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    timeoutMs: r.timeout_ms,
    backoffBaseMs: r.backoff_base_ms,
    backoffMaxMs: r.backoff_max_ms,
    workerId: r.worker_id,
    leaseExpiresAt: r.lease_expires_at,
    idempotencyKey: r.idempotency_key,
    result: r.result,
    error: r.error,
    executor: r.executor,
    pickedAt: r.picked_at,
    startedAt: r.started_at,
    completedAt: r.completed_at,
    failedAt: r.failed_at,
    cancelledAt: r.cancelled_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    progressPercent: r.progress_percent,
    progressMessage: r.progress_message,
    concurrencyKey: r.concurrency_key,
  };
}

/** The LISTEN/NOTIFY channel that wakes coordinators. Payload: `<due epoch ms>:<queue>`. */
export function wakeChannel(db: Db): string {
  return `${db.schema}_wake`;
}

/** The channel that tells coordinators a running attempt was cancelled. Payload: `<id>:<attempt>`. */
export function cancelChannel(db: Db): string {
  return `${db.schema}_cancel`;
}

/** One task by id, or null. */
export async function getTask(db: Db, id: string): Promise<Task | null> {
  const { rows } = await db.pool.query<TaskRow>({
    name: `taskq_get_${db.schema}`,
    text: `SELECT ${TASK_COLUMNS} FROM ${db.s}.tasks WHERE id = $1`,
    values: [id],
  });
  return rows[0] ? toTask(rows[0]) : null;
}

/** Filters for {@link listTasks}. Every field is optional; they combine with AND. */
export interface TaskFilter {
  status?: TaskStatus;
  queue?: string;
  /** A single word matches the handler name; text with spaces matches the whole command. */
  command?: string;
  /** The task submitted with this idempotency key (there is at most one). */
  idempotencyKey?: string;
  /** Return tasks with ids below this one (newest first paging). */
  beforeId?: string;
  limit: number;
}

/** Tasks newest first, filtered. Fetches `limit + 1` rows so the caller can tell if more exist. */
export async function listTasks(db: Db, f: TaskFilter): Promise<Task[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (sql: string, v: unknown): void => {
    values.push(v);
    where.push(sql.replace('?', `$${values.length}`));
  };
  if (f.status) add('status = ?', f.status);
  if (f.queue) add('queue = ?', f.queue);
  if (f.command) add(/\s/.test(f.command.trim()) ? 'command = ?' : 'handler = ?', f.command.trim());
  if (f.idempotencyKey) add('idempotency_key = ?', f.idempotencyKey);
  if (f.beforeId) add('id < ?', f.beforeId);
  values.push(f.limit + 1);
  const { rows } = await db.pool.query<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM ${db.s}.tasks
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY id DESC LIMIT $${values.length}`,
    values,
  );
  return rows.map(toTask);
}

/**
 * SQL for when a failed attempt of task row `t` may run again: exponential backoff from the
 * task's base, capped at its maximum, jittered down by up to half so retries spread out.
 */
export function retryAtSql(t: string): string {
  return `now() + least(${t}.backoff_max_ms, ${t}.backoff_base_ms * 2 ^ (${t}.attempt - 1))
    * (0.5 + random() / 2) * interval '1 millisecond'`;
}
