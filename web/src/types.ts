/** The shapes of the /v1 API the dashboard reads (see docs/api.md and GET /docs/json). */

export type TaskStatus = 'pending' | 'running' | 'succeeded' | 'dead' | 'cancelled';

export const TASK_STATUSES: readonly TaskStatus[] = [
  'pending',
  'running',
  'succeeded',
  'dead',
  'cancelled',
];

export interface Attempt {
  attempt: number;
  worker_id: string | null;
  picked_at: string | null;
  started_at: string | null;
  finished_at: string;
  outcome: string;
  error: string | null;
}

export interface Task {
  id: string;
  queue: string;
  command: string;
  payload: unknown;
  priority: number;
  status: TaskStatus;
  run_at: string;
  attempt: number;
  max_attempts: number;
  timeout_ms: number | null;
  backoff_ms: number;
  backoff_max_ms: number;
  worker_id: string | null;
  idempotency_key: string | null;
  concurrency_key: string | null;
  progress: { percent: number; message: string } | null;
  result: unknown;
  error: string | null;
  executor: string | null;
  created_at: string;
  updated_at: string;
  picked_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  failed_at: string | null;
  cancelled_at: string | null;
  waiting_for?: string;
  attempts?: Attempt[];
}

export interface TaskPage {
  items: Task[];
  next_cursor: string | null;
}

export interface Queue {
  name: string;
  paused: boolean;
  due: number;
  scheduled: number;
  running: number;
  dead: number;
  oldest_due_age_ms: number | null;
  max_attempts: number | null;
  backoff_ms: number | null;
  backoff_max_ms: number | null;
  concurrency_limit: number | null;
  key_concurrency_limit: number | null;
}

export type WorkerState = 'live' | 'silent' | 'disconnected';

export interface Worker {
  id: string;
  name: string;
  state: WorkerState;
  queues: string[];
  handlers: string[];
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

export interface Schedule {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  command: string;
  payload: unknown;
  queue: string;
  priority: number;
  max_attempts: number | null;
  timeout_ms: number | null;
  misfire: string;
  catch_up_limit: number;
  paused: boolean;
  next_run_at: string | null;
  next_runs: string[];
  last_run_at: string | null;
  last_task_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface Stats {
  window_s: number;
  bucket_s: number;
  series: Array<{ t: string; succeeded: number; failed: number }>;
  wait_ms: Percentiles;
  run_ms: Percentiles;
  depth: { due: number; scheduled: number; running: number; dead: number };
  workers: { live: number; silent: number; slots: number };
}

/** `event: status` on /v1/events. */
export interface StatusEvent {
  task_id: string;
  queue: string;
  status: TaskStatus;
  attempt: number;
  at: string;
}

/** `event: progress` on /v1/events and /v1/tasks/:id/events. */
export interface ProgressEvent {
  task_id: string;
  attempt: number;
  percent: number;
  message: string;
}
