import type { Task, TaskStatus } from './types.js';

/**
 * A timestamp column as ms since the epoch (float8, whole ms), for the hot statements (claim,
 * completion): node-pg reads a number where it would parse a timestamptz into a Date per row,
 * which cost a few percent of a coordinator's CPU.
 */
export const epochMs = (column: string): string =>
  `floor(extract(epoch FROM ${column}) * 1000)::float8`;

/** Every column of tasks, in the order TaskRow expects. */
export const TASK_COLUMNS = `id, queue, command, handler, payload, priority, status, scheduled_at, attempt,
  max_attempts, timeout_ms, backoff_base_ms, backoff_max_ms, worker_id, lease_expires_at,
  idempotency_key, result, error, executor, picked_at, started_at, completed_at, failed_at,
  cancelled_at, created_at, updated_at, progress_percent, progress_message, concurrency_key, workflow_id, workflow_key, parent_id, requires, rate_key, group_key, sticky_key`;

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
  workflow_id: string | null;
  workflow_key: string | null;
  parent_id: string | null;
  requires: Record<string, string> | null;
  /** '' for none (see migration 0016). */
  rate_key: string;
  group_key: string;
  sticky_key: string;
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
    workflowId: r.workflow_id,
    workflowKey: r.workflow_key,
    parentId: r.parent_id,
    requires: r.requires,
    rateKey: r.rate_key === '' ? null : r.rate_key,
    group: r.group_key === '' ? null : r.group_key,
    stickyKey: r.sticky_key === '' ? null : r.sticky_key,
  };
}
