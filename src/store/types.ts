/** The task domain: statuses, tasks, and the attempts workers report. */

/**
 * Where a task is in its life. See DESIGN.md §2. `blocked` (a workflow node whose parents have
 * not all succeeded) and `waiting` (a task waiting for the children it spawned) are never
 * claimed; docs/workflows.md.
 */
export type TaskStatus =
  | 'blocked'
  | 'waiting'
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'dead'
  | 'cancelled';

export const TASK_STATUSES: readonly TaskStatus[] = [
  'blocked',
  'waiting',
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
  /** The workflow it is a task of, and its key there; null for a task on its own. */
  workflowId: string | null;
  workflowKey: string | null;
  /** The task that spawned it and waits for it (ctx.waitFor). */
  parentId: string | null;
  /** Labels a worker must have to be handed it; null: any worker. */
  requires: Record<string, string> | null;
  /** Starts of tasks sharing it are limited by the queue's key rate limit; null: none. */
  rateKey: string | null;
  /** The group (a tenant, a customer) it shares the queue with others by; null: none. */
  group: string | null;
  /** Tasks sharing it prefer the worker that took the last one; null: none. */
  stickyKey: string | null;
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
  /** The workflow it is a node of, and its key there. */
  workflowId?: string | null;
  workflowKey?: string | null;
  /** The task that spawned it and waits for it to end. */
  parentId?: string | null;
  /** Parents that must succeed first (the task starts blocked when above 0). @default 0 */
  waitingOn?: number;
  /** Other nodes depend on it. @default false */
  hasDependents?: boolean;
  /** Labels a worker must have to be handed it. */
  requires?: Record<string, string> | null;
  /** Counted against the queue's key rate limit. @default null */
  rateKey?: string | null;
  /** Claimed round robin with the queue's other groups. @default null */
  group?: string | null;
  /** Prefers the worker that took the last task of this key. @default null */
  stickyKey?: string | null;
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
  /** When it was due to run (ms since the epoch). */
  scheduledAtMs: number;
  /**
   * When the task became due here (ms since the epoch): the later of its run_at (or retry
   * time) and its creation. A task submitted with a run_at in the past has waited only since
   * it was submitted.
   */
  dueAtMs: number;
  /** The submit span's traceparent, when the task was traced. */
  traceContext: string | null;
  /** JSON text of what the handler gets besides its payload (parents', children's results). */
  inputsJson: string | null;
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
  /**
   * The worker's clock when the handler started (ms since the epoch); clamped like
   * {@link markStarted}.
   */
  startedAtMs: number | null;
  /** Children the handler spawned, stored with this result only if it is accepted. */
  children?: NewTask[];
  /** The task waits for those children instead of finishing (ctx.waitFor). */
  waitForChildren?: boolean;
}

/** The outcome of recording one result. */
export interface CompletedAttempt extends HeldAttempt {
  status: TaskStatus;
  /** For a retry (status pending): when it is due again (ms since the epoch). */
  scheduledAtMs: number;
  queue: string;
  handler: string;
  /** When the handler started (clamped to the task's own timeline; ms since the epoch), if known. */
  startedAtMs: number | null;
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
