import type { Logger } from 'pino';

/** What a handler gets besides its payload. */
export interface TaskContext {
  /** The task's id. Stable across attempts: use it as an idempotency key downstream. */
  readonly taskId: string;
  /** 1 for the first attempt. Delivery is at least once, so a handler may see attempt 2 after a crash. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** The full command text. */
  readonly command: string;
  /** The command's words after the handler name. */
  readonly args: readonly string[];
  readonly queue: string;
  /** When the task was due. */
  readonly scheduledAt: Date;
  /**
   * Aborts on timeout, cancellation, lost lease or forced shutdown. `signal.reason` says
   * which. A handler that ignores it keeps its slot busy until it returns.
   */
  readonly signal: AbortSignal;
  /** Reports progress (0 to 100) with an optional message. Cheap: updates are coalesced. */
  progress(percent: number, message?: string): void;
  /** A logger with taskId and attempt on every line. */
  readonly log: Logger;
  /** A workflow task: the results of the tasks it depends on, by their keys. Else empty. */
  readonly parents: Readonly<Record<string, unknown>>;
  /**
   * A task that waited for its children ({@link waitFor}): how each ended, in the order they
   * were spawned. Undefined on the first run, so a handler can tell the two apart.
   */
  readonly children: readonly ChildOutcome[] | undefined;
  /** A workflow's on_failure task: which task failed, and how. Else undefined. */
  readonly failure: FailedTask | undefined;
  /**
   * Spawns child tasks. They are submitted with this attempt's result, in the same
   * transaction, and only if that result is accepted: a stale attempt spawns nothing. Returns
   * them, to pass to {@link waitFor} or not (then they run on their own).
   */
  spawn(children: ChildTask[]): ChildTask[];
  /**
   * Ends this attempt without holding a worker slot: return its value from the handler. The
   * task waits (status `waiting`) until every child spawned in this attempt (and those given
   * here) has ended, then runs again as a new attempt with {@link children} set. Waiting does
   * not use up an attempt. A child that fails is reported in `children`, not retried here.
   */
  waitFor(children?: ChildTask[]): WaitForChildren;
}

/** A child task, as a handler spawns it: a submit's fields. */
export interface ChildTask {
  command: string;
  payload?: unknown;
  queue?: string;
  priority?: number;
  /** Shown in the workflow's graph. */
  key?: string;
  run_at?: string;
  max_attempts?: number;
  timeout_ms?: number;
  backoff_ms?: number;
  backoff_max_ms?: number;
  concurrency_key?: string;
}

/** How a child ended, as a resumed parent sees it. */
export interface ChildOutcome {
  task_id: string;
  key: string | null;
  status: 'succeeded' | 'dead' | 'cancelled';
  result: unknown;
  error: string | null;
}

/** The task whose failure released a workflow's on_failure task. */
export interface FailedTask {
  key: string | null;
  task_id: string;
  status: 'dead' | 'cancelled';
  error: string | null;
}

/** What {@link TaskContext.waitFor} returns: hand it back from the handler. */
export class WaitForChildren {
  constructor(readonly children: readonly ChildTask[]) {}
}

/** A task handler. Its return value (any JSON) is stored as the task's result. */
export type Handler<P = unknown, R = unknown> = (payload: P, ctx: TaskContext) => R | Promise<R>;

/**
 * Throw this (or any error with `retryable: false`) to fail the task at once, without the
 * remaining retries. `result` is stored alongside the error.
 */
export class TaskError extends Error {
  readonly retryable: boolean;
  readonly result: unknown;
  constructor(
    message: string,
    options: { retryable?: boolean; result?: unknown; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'TaskError';
    this.retryable = options.retryable ?? true;
    this.result = options.result;
  }
}

/** A failure that retrying cannot fix: bad input, a missing record. */
export class NonRetryableError extends TaskError {
  constructor(message: string, options: { result?: unknown; cause?: unknown } = {}) {
    super(message, { ...options, retryable: false });
    this.name = 'NonRetryableError';
  }
}
