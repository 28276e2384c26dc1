import { context, trace, type Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { parseCommand } from '../lib/command.js';
import { describeError } from '../lib/errors.js';
import type { Assigned } from '../lib/packed.js';
import { SpanKind, contextOf, failSpan, startSpan } from '../lib/trace.js';
import {
  TaskError,
  WaitForChildren,
  type ChildOutcome,
  type ChildTask,
  type FailedTask,
  type TaskContext,
} from './types.js';
import type { CompletionInit } from './stream-batcher.js';

/** A task attempt: the fencing token every report carries. */
export type Ref = { taskId: string; attempt: number };

/** What an attempt reports through: the worker's stream. */
export interface AttemptDeps {
  logger: Logger;
  onStarted(ref: Ref, startedAtMs: number): void;
  onProgress(ref: Ref, percent: number, message: string): void;
  onResult(result: CompletionInit): void;
}

/** Why a task's signal aborted. */
export class AbortReason extends Error {
  constructor(
    readonly kind: 'timeout' | 'abort',
    message: string,
  ) {
    super(message);
  }
}

/** A handler still running this long after its signal aborted gets a warning in the log. */
const STILL_RUNNING_WARNING_MS = 30_000;

/**
 * Called when a handler's signal aborts: logs `message` if the handler has not returned
 * {@link STILL_RUNNING_WARNING_MS} later. Call the returned function when it returns.
 */
export function warnIfStillRunning(log: () => Logger, message: string): () => void {
  const timer = setTimeout(() => log().warn(message), STILL_RUNNING_WARNING_MS);
  return () => clearTimeout(timer);
}

/**
 * One assignment a worker holds, from its arrival to its one result: its context, its
 * timeout, its abort, and the report, whichever handler runs it (`runTask` for one task,
 * `runBatch` for many).
 *
 * {@link begin} starts it (start report, span, `timeout_ms` timer). The first of
 * {@link succeed}, {@link fail} and {@link abort} reports; later ones are ignored. An abort
 * reports at once, while {@link settled} (which frees the slot) waits for {@link finish}:
 * the handler's return.
 *
 * This is the worker's per-task hot path, so what most handlers never touch is made on
 * first use: the AbortController when the handler reads `ctx.signal`, the child logger when
 * it reads `ctx.log`.
 */
export class TaskAttempt {
  readonly ref: Ref;
  /** The command's first word: the handler that runs it. */
  readonly handler: string;
  readonly ctx: TaskContext;
  /** When a coordinator last confirmed this attempt's lease (at first, when it arrived). */
  leaseConfirmedAt = Date.now();
  /** Resolves when {@link finish} is called: the handler returned and the slot is free. */
  readonly settled: Promise<void>;
  private markSettled: () => void = () => undefined;
  /** When it arrived, until {@link begin}; then when its handler started. */
  private startedAtMs = this.leaseConfirmedAt;
  private executor = 'handler';
  private isReported = false;
  private controller: AbortController | undefined;
  private abortReason: AbortReason | undefined;
  private readonly abortListeners: Array<(reason: AbortReason) => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private span: Span | undefined;
  private log: Logger | undefined;
  private readonly spawned: ChildTask[] = [];
  private deadlineMs: number | undefined;

  constructor(
    private readonly assignment: Assigned,
    private readonly deps: AttemptDeps,
  ) {
    const a = assignment;
    this.ref = { taskId: a.taskId, attempt: a.attempt };
    const { handler, args } = parseCommand(a.command);
    this.handler = handler;
    this.settled = new Promise((resolve) => (this.markSettled = resolve));
    const inputs = parseInputs(a.inputsJson);
    const signal = (): AbortSignal => this.signal();
    const log = (): Logger => this.logger();
    this.ctx = {
      parents: inputs.parents ?? {},
      children: inputs.children,
      failure: inputs.failed,
      spawn: (children) => {
        this.spawned.push(...children);
        return children;
      },
      waitFor: (children = []) => new WaitForChildren(children),
      taskId: this.ref.taskId,
      attempt: this.ref.attempt,
      maxAttempts: a.maxAttempts,
      command: a.command,
      args,
      queue: a.queue,
      scheduledAt: new Date(Number(a.scheduledAtMs)),
      get signal() {
        return signal();
      },
      get log() {
        return log();
      },
      progress: (percent, message = '') => {
        const p = Math.max(0, Math.min(100, Number(percent) || 0));
        this.deps.onProgress(this.ref, p, String(message).slice(0, 500));
      },
    };
  }

  /** True once the result is produced (it may still be waiting for its ack). */
  get reported(): boolean {
    return this.isReported;
  }

  /** The task's payload. @throws SyntaxError when its JSON is broken. */
  payload(): unknown {
    return this.assignment.payloadJson ? JSON.parse(this.assignment.payloadJson) : null;
  }

  /** Its handler starts now: sends the start report, opens its span, arms `timeout_ms`. */
  begin(executor: 'handler' | 'shell'): void {
    const a = this.assignment;
    this.executor = executor;
    this.startedAtMs = Date.now();
    this.deps.onStarted(this.ref, this.startedAtMs);
    this.span = startSpan(
      `taskq.run ${this.handler}`,
      a.traceParent || null,
      {
        'taskq.component': 'worker',
        'taskq.task_id': this.ref.taskId,
        'taskq.attempt': this.ref.attempt,
        'taskq.executor': executor,
      },
      SpanKind.CONSUMER,
    );
    if (a.timeoutMs > 0) {
      this.deadlineMs = this.startedAtMs + a.timeoutMs;
      this.timer = setTimeout(
        () => this.abortWith(new AbortReason('timeout', `timed out after ${a.timeoutMs} ms`)),
        a.timeoutMs,
      );
    }
  }

  /** Epoch ms at which `timeout_ms` ends it, once begun; undefined without a timeout. */
  get deadline(): number | undefined {
    return this.deadlineMs;
  }

  /** The span of its run, once begun: a batch's span links to it. */
  get spanContext(): ReturnType<Span['spanContext']> | undefined {
    return this.span?.spanContext();
  }

  /** Runs `fn` inside the task's trace (when it has one), so the handler's spans nest. */
  inTrace<T>(fn: () => T): T {
    if (!this.span) return fn();
    return context.with(
      trace.setSpan(contextOf(this.assignment.traceParent || null), this.span),
      fn,
    );
  }

  /** Reports the handler's value (a result, or `ctx.waitFor(…)`). */
  succeed(value: unknown): void {
    if (this.isReported) return;
    this.isReported = true;
    this.span?.end();
    const base = this.resultBase();
    if (value instanceof WaitForChildren) {
      const children = [
        ...this.spawned,
        ...value.children.filter((c) => !this.spawned.includes(c)),
      ];
      this.deps.onResult({
        ...base,
        ok: true,
        waitForChildren: true,
        childrenJson: JSON.stringify(children),
      });
      return;
    }
    let resultJson: string;
    try {
      resultJson = JSON.stringify(value ?? null);
    } catch (err) {
      this.deps.onResult({
        ...base,
        ok: false,
        error: `result is not JSON-serializable: ${describeError(err)}`,
        retryable: false,
        failure: 'error',
      });
      return;
    }
    this.deps.onResult({
      ...base,
      ok: true,
      resultJson,
      ...(this.spawned.length > 0 ? { childrenJson: JSON.stringify(this.spawned) } : {}),
    });
  }

  /** Reports a failure: retryable unless `err.retryable === false`. */
  fail(err: unknown): void {
    if (this.isReported) return;
    this.isReported = true;
    if (this.span) failSpan(this.span, err);
    const timeout = err instanceof AbortReason && err.kind === 'timeout';
    const retryable = !(
      typeof err === 'object' &&
      err !== null &&
      (err as { retryable?: unknown }).retryable === false
    );
    let resultJson = '';
    if (err instanceof TaskError && err.result !== undefined) {
      try {
        resultJson = JSON.stringify(err.result);
      } catch {
        // keep the error alone
      }
    }
    this.deps.onResult({
      ...this.resultBase(),
      ok: false,
      error: describeError(err),
      retryable,
      failure: timeout ? 'timeout' : 'error',
      resultJson,
    });
  }

  /** Aborts its signal and reports the failure at once (cancel, lost lease, shutdown). */
  abort(reason: string): void {
    this.abortWith(new AbortReason('abort', reason));
  }

  /** Calls `listener` when it aborts (at most once). */
  onAbort(listener: (reason: AbortReason) => void): void {
    this.abortListeners.push(listener);
  }

  /** Its handler returned (or will never run): frees the slot. */
  finish(): void {
    clearTimeout(this.timer);
    this.markSettled();
  }

  private abortWith(reason: AbortReason): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
    this.fail(reason);
    for (const listener of this.abortListeners) listener(reason);
  }

  private resultBase() {
    return {
      taskId: this.ref.taskId,
      attempt: this.ref.attempt,
      executor: this.executor,
      startedAtMs: BigInt(this.startedAtMs),
      finishedAtMs: BigInt(Date.now()),
    };
  }

  private signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  private logger(): Logger {
    return (this.log ??= this.deps.logger.child({
      taskId: this.ref.taskId,
      attempt: this.ref.attempt,
    }));
  }
}

/** What a task gets besides its payload (Assignment.inputs_json). */
function parseInputs(json: string): {
  parents?: Record<string, unknown>;
  children?: ChildOutcome[];
  failed?: FailedTask;
} {
  if (!json) return {};
  try {
    return JSON.parse(json) as ReturnType<typeof parseInputs>;
  } catch {
    return {};
  }
}
