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

/** One task of a batch, as a {@link BatchHandler} gets it. */
export interface BatchTask<P = unknown> {
  /** The task's payload. */
  readonly payload: P;
  /** The task's own context, as a {@link Handler} gets it: its id, attempt, signal, progress. */
  readonly ctx: TaskContext;
}

/** What a {@link BatchHandler} gets besides its tasks. */
export interface BatchContext {
  /** The handler's name. */
  readonly handler: string;
  /**
   * Aborts once every task of the batch has been aborted (each by its timeout, cancel, lost
   * lease, or a forced or timed-out stop): nothing the batch does can count any more. A
   * graceful stop does not abort it. Each task's own `ctx.signal` aborts on its own.
   */
  readonly signal: AbortSignal;
  /**
   * The earliest deadline of the batch's tasks (start + `timeout_ms`), or undefined when none
   * has a timeout. A task whose deadline passes is reported as timed out while the batch goes
   * on; finish before this to let every task count.
   */
  readonly deadline: Date | undefined;
  /** A logger with the handler's name and the batch size on every line. */
  readonly log: Logger;
}

/**
 * A handler that takes many tasks at once (see `Worker.handleBatch`). It returns one result
 * per task, in order: a value (that task succeeded, and the value is its result) or an
 * `Error` (that task failed; retryable unless a {@link NonRetryableError} or `retryable:
 * false`). Throwing fails every task of the batch with that error.
 */
export type BatchHandler<P = unknown, R = unknown> = (
  tasks: ReadonlyArray<BatchTask<P>>,
  ctx: BatchContext,
) => ReadonlyArray<R | Error> | Promise<ReadonlyArray<R | Error>>;

/** How a batch handler's tasks are gathered. */
export interface BatchOptions {
  /**
   * The most tasks in one batch. A batch also never holds more than the worker's
   * `concurrency`: each task uses a slot.
   * @default 100
   */
  size?: number;
  /**
   * How long a batch that is not full may wait for more tasks after its first one arrived.
   * It never waits when no more tasks can come: the worker's slots are all in use, or it is
   * stopping.
   * @default 10
   */
  waitMs?: number;
}

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
