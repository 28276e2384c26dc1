/** The shapes of the /v1 API the dashboard reads (see docs/api.md and GET /docs/json). */

import type { TaskStatus } from '../../src/client/types.js';

export type { TaskStatus };
/** True for `succeeded`, `dead` and `cancelled`. */
export { isTerminal } from '../../src/client/types.js';
export { isWorkflow } from '../../src/client/workflow-types.js';

/** Every task status, in the order of a task's life: for filters, legends and stacked bars. */
export const TASK_STATUSES: readonly TaskStatus[] = [
  'blocked',
  'waiting',
  'pending',
  'running',
  'succeeded',
  'dead',
  'cancelled',
];

// The API's shapes are the client SDK's; only what the SDK does not cover is declared here.
export type {
  BulkActionResult,
  Queue,
  RateLimit,
  Task,
  TaskAttempt as Attempt,
  TaskPage,
  WorkerInfo as Worker,
  WorkerState,
} from '../../src/client/types.js';
export type { Schedule, ScheduleWorkflow } from '../../src/client/schedule-types.js';
export type {
  Workflow,
  WorkflowPage,
  WorkflowStatus,
  WorkflowTask,
} from '../../src/client/workflow-types.js';

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
  /** due: waiting for a worker; paused: due in paused queues, waiting for a resume. */
  depth: { due: number; paused: number; scheduled: number; running: number; dead: number };
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
