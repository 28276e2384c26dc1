/**
 * `task-queue/worker`: run task handlers in your own process.
 *
 * ```ts
 * import { Worker } from 'task-queue/worker';
 * const worker = new Worker<{ resize: { url: string } }>({ coordinators: ['127.0.0.1:50051'] });
 * worker.handle('resize', async (payload, ctx) => ({ resized: payload.url, attempt: ctx.attempt }));
 * worker.start();
 * ```
 */
export { Worker } from './worker.js';
export { WorkerRefusedError } from './connect-errors.js';
export type { WorkerOptions, ResolvedWorkerOptions } from './options.js';
export type { ShellOptions, ShellResult } from './executors/shell.js';
export {
  TaskError,
  NonRetryableError,
  WaitForChildren,
  type BatchContext,
  type BatchHandler,
  type BatchOptions,
  type BatchTask,
  type ChildOutcome,
  type ChildTask,
  type FailedTask,
  type Handler,
  type TaskContext,
} from './types.js';
