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
