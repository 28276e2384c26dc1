/**
 * `task-queue/client`: a typed client for the Task Queue REST API. It runs on Node 20's
 * built-ins alone (fetch, TextDecoder), so it can ship inside any application.
 *
 * ```ts
 * import { TaskQueueClient } from 'task-queue/client';
 * const tq = new TaskQueueClient({ baseUrl: 'http://127.0.0.1:8081' });
 * const task = await tq.submit({ command: 'resize photo.png', payload: { width: 800 } });
 * for await (const e of tq.watch(task.id)) {
 *   if (e.type === 'progress') console.log(`${e.percent}% ${e.message}`);
 *   else console.log(e.task.status);
 * }
 * const done = await tq.waitFor(task.id);
 *
 * const wf = await tq.submitWorkflow({
 *   name: 'publish photo-42',
 *   tasks: [
 *     { key: 'fetch', command: 'fetch photo-42.jpg' },
 *     { key: 'resize', command: 'resize', depends_on: ['fetch'] },
 *   ],
 * });
 * for await (const w of tq.watchWorkflow(wf.id)) console.log(w.status, w.counts);
 * ```
 */
export { TaskQueueClient } from './client.js';
export type { CallOptions, ClientOptions } from './options.js';
export { ApiError, ConnectionError, WaitTimeoutError } from './errors.js';
export type { FetchFunction } from './http.js';
export {
  TERMINAL_STATUSES,
  isTerminal,
  type BatchResult,
  type BulkActionResult,
  type BulkTarget,
  type Queue,
  type QueueSettings,
  type RateLimit,
  type SubmitTask,
  type Task,
  type TaskAttempt,
  type TaskFilter,
  type TaskPage,
  type TaskProgress,
  type TaskStatus,
  type WatchEvent,
  type WorkerInfo,
} from './types.js';
export type {
  CreateSchedule,
  MisfirePolicy,
  Schedule,
  ScheduleWorkflow,
} from './schedule-types.js';
export type { WatchOptions } from './watch.js';
export {
  isWorkflow,
  type SubmitWorkflow,
  type SubmitWorkflowTask,
  type Workflow,
  type WorkflowListOptions,
  type WorkflowPage,
  type WorkflowStatus,
  type WorkflowTask,
} from './workflow-types.js';
