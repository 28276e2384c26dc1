import type { TaskAttempt } from './attempt.js';
import { TaskError, type Handler } from './types.js';

/** One task a worker holds: running, or gathered into a batch that has not started yet. */
export interface RunningTask {
  readonly ref: { taskId: string; attempt: number };
  /** True once the result is produced (it may still be waiting for its ack). */
  readonly reported: boolean;
  /** When a coordinator last confirmed this attempt's lease (at first, when it arrived). */
  leaseConfirmedAt: number;
  /** Resolves when the handler has returned, which frees the slot. */
  readonly settled: Promise<void>;
  abort(reason: string): void;
}

/**
 * Runs one task with its handler, or with the shell executor when no handler claims it,
 * and reports exactly one result. On timeout or abort the result goes out at once, while the
 * slot stays busy until the handler really returns, so concurrency is never exceeded.
 * One promise per task, and no closure: this runs for every task.
 */
export function runTask(
  attempt: TaskAttempt,
  handler: Handler | undefined,
  shell: Handler | undefined,
): void {
  attempt.stillRunningWarning =
    'handler ignores its AbortSignal and is still running; its slot stays busy';
  attempt.begin(handler || !shell ? 'handler' : 'shell');
  void run(attempt, handler ?? shell);
}

async function run(attempt: TaskAttempt, fn: Handler | undefined): Promise<void> {
  try {
    if (!fn) throw new TaskError(`this worker has no handler '${attempt.handler}'`);
    attempt.succeed(await attempt.call(fn, attempt.payload()));
  } catch (error) {
    attempt.fail(error);
  } finally {
    attempt.finish();
  }
}
