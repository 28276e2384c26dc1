/**
 * The shapes of the /v1 REST API, as the client sends and receives them. Field names are the
 * API's own (snake_case); times are RFC 3339 strings in UTC.
 */

/**
 * Where a task is in its life. `succeeded`, `dead` and `cancelled` are final. `blocked`: a
 * workflow node waiting for its parents; `waiting`: a task waiting for the children it spawned.
 */
export type TaskStatus =
  | 'blocked'
  | 'waiting'
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'dead'
  | 'cancelled';

/** The statuses a task never leaves (except `dead` and `cancelled` through a retry). */
export const TERMINAL_STATUSES: readonly TaskStatus[] = ['succeeded', 'dead', 'cancelled'];

/** True for `succeeded`, `dead` and `cancelled`. */
export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** One finished attempt of a task. */
export interface TaskAttempt {
  attempt: number;
  worker_id: string | null;
  /** The name the worker announced, when it is still known. */
  worker_name?: string | null;
  picked_at: string | null;
  started_at: string | null;
  finished_at: string;
  /** `succeeded`, `failed`, `timeout`, `lease_expired` or `cancelled`. */
  outcome: string;
  error: string | null;
}

/** A task as the /v1 API returns it. */
export interface Task {
  id: string;
  queue: string;
  command: string;
  payload: unknown;
  priority: number;
  status: TaskStatus;
  run_at: string;
  /** Attempts started so far; the fencing token of the current one. */
  attempt: number;
  max_attempts: number;
  timeout_ms: number | null;
  backoff_ms: number;
  backoff_max_ms: number;
  worker_id: string | null;
  /** One task only (get, and every action on it): its current worker's announced name. */
  worker_name?: string | null;
  idempotency_key: string | null;
  /** Tasks sharing a key run at most the queue's `key_concurrency_limit` at a time. */
  concurrency_key: string | null;
  /** Tasks sharing a key start at most the queue's `key_rate_limit` per period. */
  rate_key?: string | null;
  /** The group it shares its queue with others by, round robin. */
  group?: string | null;
  /** Tasks sharing it prefer the worker that took the last one. */
  sticky_key?: string | null;
  /** The workflow it is a task of (getWorkflow), and its key there; null on its own. */
  workflow_id?: string | null;
  workflow_key?: string | null;
  /** The task that spawned it and waits for it (ctx.waitFor), or null. */
  parent_task_id?: string | null;
  /** Labels a worker must have to be handed it. */
  requires?: Record<string, string> | null;
  /** The latest progress the running attempt reported, or null. */
  progress: { percent: number; message: string } | null;
  result: unknown;
  error: string | null;
  /** `handler` or `shell`, once a result is stored. */
  executor: string | null;
  created_at: string;
  updated_at: string;
  picked_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  failed_at: string | null;
  cancelled_at: string | null;
  /** Why a due task is still pending, when known (single-task answers only). */
  waiting_for?: string;
  /** Finished attempts (single-task answers and `task` events only). */
  attempts?: TaskAttempt[];
}

/** What POST /v1/tasks takes. Fields left out get the queue's or the server's default. */
export interface SubmitTask {
  /** The first word names the handler; the rest are its arguments. */
  command: string;
  /** Structured input for the handler (any JSON). */
  payload?: unknown;
  /** @default 'default' */
  queue?: string;
  /** Higher runs first, from -1000 to 1000. @default 0 */
  priority?: number;
  /** When to run: RFC 3339 with any offset, or a Date. @default now */
  run_at?: string | Date;
  /** Attempts in all. @default the queue's setting, else 3 */
  max_attempts?: number;
  /** Per attempt. @default none */
  timeout_ms?: number;
  /** First retry delay; doubles per attempt. @default the queue's setting, else 1000 */
  backoff_ms?: number;
  /** Cap on the retry delay. @default the queue's setting, else 300000 */
  backoff_max_ms?: number;
  /** Submitting the same key again returns the existing task instead of creating one. */
  idempotency_key?: string;
  /**
   * Tasks sharing a key (a customer id, say) run at most the queue's `key_concurrency_limit`
   * at a time. The queue must have that limit.
   */
  concurrency_key?: string;
  /** Labels a worker must have to be handed the task. */
  requires?: Record<string, string>;
  /**
   * Tasks sharing a key (an API account, say) start at most the queue's `key_rate_limit`
   * per period.
   */
  rate_key?: string;
  /**
   * The group (a tenant, a customer) it shares its queue with others by: groups are claimed
   * round robin, weighted by the queue's `group_weights`.
   */
  group?: string;
  /**
   * Tasks sharing a key (a session, a cache shard) prefer the worker that took the last one,
   * while it is connected and has a free slot; otherwise another worker takes it and holds the
   * key from then on. A preference, never a wait.
   */
  sticky_key?: string;
}

/** Filters for listing tasks. They combine with AND and run on the server. */
export interface TaskFilter {
  status?: TaskStatus;
  queue?: string;
  /** One word matches the handler name; with spaces, the whole command. */
  command?: string;
  /** A worker's id: the tasks whose latest attempt ran, or runs, on it. */
  worker?: string;
  /** Created at or after this instant (RFC 3339 with any offset, or a Date). */
  created_after?: string | Date;
  /** Created before this instant (RFC 3339 with any offset, or a Date). */
  created_before?: string | Date;
  /** The task submitted with this idempotency key. */
  idempotency_key?: string;
  /** Page size, 1 to 500. @default 50 */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
  /** Count the matching tasks (`total`); false skips the count. @default true */
  include_total?: boolean;
}

/** One page of tasks, newest first. */
export interface TaskPage {
  items: Task[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
  /**
   * Tasks matching the filters (on every page, not only this one): exact up to 10,000, then
   * 10,000 with `total_capped`. Null when asked with `include_total: false`.
   */
  total: number | null;
  /** More than 10,000 tasks match: `total` is a lower bound. */
  total_capped: boolean;
}

/**
 * The tasks a bulk action is for: up to 1000 ids, or a filter: a queue and a status (the
 * ones the action applies to), at most `limit` (@default 1000) tasks a call, oldest first.
 */
export type BulkTarget = { ids: string[] } | { queue: string; status: TaskStatus; limit?: number };

/** What a bulk retry or cancel did. */
export interface BulkActionResult {
  /** How many tasks it changed. */
  changed: number;
  changed_ids: string[];
  /** Ids given that were left as they were: their status (null: no such task) and why. */
  skipped: Array<{ id: string; status: TaskStatus | null; reason: string }>;
  /** With a filter: tasks that still match it (exact up to 10,000); null for ids. */
  remaining: number | null;
  /** More than 10,000 tasks still match the filter. */
  remaining_capped: boolean;
}

/** The answer to a batch submit: one item per task, in order. */
export interface BatchResult {
  items: Array<{ id: string; status: TaskStatus; created: boolean }>;
  /** How many tasks were new (the rest held a known idempotency key). */
  created: number;
}

/** At most `count` task starts in any window of `period_ms`. */
export interface RateLimit {
  count: number;
  period_ms: number;
}

/** A queue with its depth, retry defaults, limits and group weights. */
export interface Queue {
  name: string;
  paused: boolean;
  /** Pending and due now. */
  due: number;
  /** Pending with a future run_at, including retries in backoff. */
  scheduled: number;
  running: number;
  dead: number;
  /** How long the oldest due task has waited. */
  oldest_due_age_ms: number | null;
  /** Tasks that succeeded in the last 60 s. */
  succeeded_last_minute: number;
  /** Tasks not succeeded whose latest attempt failed in the last 60 s (waiting to retry, or dead). */
  failed_last_minute: number;
  /** Default for tasks that set none; null means the server default (3). */
  max_attempts: number | null;
  /** Default first retry delay; null means the server default (1000). */
  backoff_ms: number | null;
  /** Default retry delay cap; null means the server default (300000). */
  backoff_max_ms: number | null;
  /** Most tasks running at once, across all workers; null: no limit. */
  concurrency_limit: number | null;
  /** Most tasks with the same concurrency_key running at once; null: keys not allowed here. */
  key_concurrency_limit: number | null;
  /** Most task starts of the queue per period, across all coordinators; null: no limit. */
  rate_limit: RateLimit | null;
  /** Most starts of tasks with the same rate_key per period; null: no limit. */
  key_rate_limit: RateLimit | null;
  /** Weights of groups in the round robin (a group not named weighs 1); null: all 1. */
  group_weights: Record<string, number> | null;
}

/** A queue's settings. Fields left out keep their value; null clears one. */
export interface QueueSettings {
  max_attempts?: number | null;
  backoff_ms?: number | null;
  backoff_max_ms?: number | null;
  concurrency_limit?: number | null;
  key_concurrency_limit?: number | null;
  /** At most `count` task starts of the queue in any window of `period_ms`. */
  rate_limit?: RateLimit | null;
  /** At most `count` starts of tasks with the same rate_key in any window of `period_ms`. */
  key_rate_limit?: RateLimit | null;
  /** Replaces the group weights whole: a group of weight w takes w tasks per round. */
  group_weights?: Record<string, number> | null;
}

/** `live`, `silent` (stream open, no heartbeat lately) or `disconnected`. */
export type WorkerState = 'live' | 'silent' | 'disconnected';

/** A worker seen in the last hour. */
export interface WorkerInfo {
  id: string;
  name: string;
  state: WorkerState;
  queues: string[];
  handlers: string[];
  /** Runs any command as a shell line (`--allow-shell`). */
  accepts_any_command: boolean;
  concurrency: number;
  running: number;
  labels: Record<string, string>;
  version: string | null;
  coordinator_id: string | null;
  first_seen_at: string;
  last_seen_at: string;
  disconnected_at: string | null;
}

/** A handler's progress report. */
export interface TaskProgress {
  task_id: string;
  attempt: number;
  /** 0 to 100. */
  percent: number;
  message: string;
}

/** What {@link TaskQueueClient.watch} yields: the whole task on every change, and progress. */
export type WatchEvent = { type: 'task'; task: Task } | ({ type: 'progress' } & TaskProgress);
