import { context, trace, type Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { handlerName } from '../lib/command.js';
import { describeError } from '../lib/errors.js';
import type { Assigned } from '../lib/packed.js';
import { SpanKind, contextOf, failSpan, startSpan } from '../lib/trace.js';
import { AttemptContext } from './attempt-context.js';
import { TaskError, WaitForChildren, type ChildTask, type TaskContext } from './types.js';
import type { CompletionInit } from './stream-batcher.js';

/** A task attempt: the fencing token every report carries. */
export type Ref = { taskId: string; attempt: number };

/** What an attempt reports through: the worker's stream. */
export interface AttemptDeps {
  logger: Logger;
  onStarted(ref: Ref, startedAtMs: number): void;
  onProgress(ref: Ref, percent: number, message: string): void;
  onResult(result: CompletionInit): void;
  /** Its handler returned (or will never run): its slot is free. */
  onFinished(attempt: TaskAttempt): void;
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
 * reports at once, while the slot stays busy until {@link finish}: the handler's return,
 * which tells `deps.onFinished`.
 *
 * This is the worker's per-task hot path, so it makes no closure or timer per task beyond
 * `timeout_ms`'s, and what most handlers never touch is made on first use: the context's
 * arguments, inputs and date, the AbortController when the handler reads `ctx.signal`, the
 * child logger when it reads `ctx.log`.
 */
export class TaskAttempt {
  readonly ref: Ref;
  /** The command's first word: the handler that runs it. */
  readonly handler: string;
  /** When a coordinator last confirmed this attempt's lease (at first, when it arrived). */
  leaseConfirmedAt = Date.now();
  /**
   * Set by the runner of a single handler: the warning to log when the handler is still
   * running long after its signal aborted.
   */
  stillRunningWarning: string | undefined;
  private stopWarning: (() => void) | undefined;
  private context: AttemptContext | undefined;
  private settledPromise: Promise<void> | undefined;
  private markSettled: (() => void) | undefined;
  private isFinished = false;
  /** When it arrived, until {@link begin}; then when its handler started. */
  private startedAtMs = this.leaseConfirmedAt;
  private executor = 'handler';
  private isReported = false;
  private controller: AbortController | undefined;
  private abortReason: AbortReason | undefined;
  private abortListeners: Array<(reason: AbortReason) => void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private span: Span | undefined;
  private log: Logger | undefined;
  /** Children spawned by the handler (ctx.spawn). */
  readonly spawned: ChildTask[] = [];
  private deadlineMs: number | undefined;

  constructor(
    /** The task as the coordinator handed it over. */
    readonly assignment: Assigned,
    private readonly deps: AttemptDeps,
  ) {
    this.ref = { taskId: assignment.taskId, attempt: assignment.attempt };
    this.handler = handlerName(assignment.command);
  }

  /** What its handler gets besides the payload; made when first asked for. */
  get ctx(): TaskContext {
    return (this.context ??= new AttemptContext(this));
  }

  /** True once the result is produced (it may still be waiting for its ack). */
  get reported(): boolean {
    return this.isReported;
  }

  /** Resolves once {@link finish} is called: the handler returned and the slot is free. */
  get settled(): Promise<void> {
    this.settledPromise ??= this.isFinished
      ? Promise.resolve()
      : new Promise((resolve) => (this.markSettled = resolve));
    return this.settledPromise;
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

  /** Calls `fn(payload, ctx)` inside the task's trace (when it has one), so the handler's spans nest. */
  call<R>(fn: (payload: unknown, ctx: TaskContext) => R, payload: unknown): R {
    if (!this.span) return fn(payload, this.ctx);
    return context.with(
      trace.setSpan(contextOf(this.assignment.traceParent || null), this.span),
      fn,
      undefined,
      payload,
      this.ctx,
    );
  }

  /** Reports the handler's value (a result, or `ctx.waitFor(…)`). */
  succeed(value: unknown): void {
    if (this.isReported) return;
    this.isReported = true;
    this.span?.end();
    if (value instanceof WaitForChildren) {
      const children = [
        ...this.spawned,
        ...value.children.filter((c) => !this.spawned.includes(c)),
      ];
      this.deps.onResult({
        ...this.resultBase(),
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
        ...this.resultBase(),
        ok: false,
        error: `result is not JSON-serializable: ${describeError(err)}`,
        retryable: false,
        failure: 'error',
      });
      return;
    }
    // The common case, built in one literal: a result of every task goes through here.
    this.deps.onResult({
      taskId: this.ref.taskId,
      attempt: this.ref.attempt,
      ok: true,
      resultJson,
      executor: this.executor,
      startedAtMs: BigInt(this.startedAtMs),
      finishedAtMs: BigInt(Date.now()),
      childrenJson: this.spawned.length > 0 ? JSON.stringify(this.spawned) : '',
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
    (this.abortListeners ??= []).push(listener);
  }

  /** Its handler returned (or will never run): frees the slot. */
  finish(): void {
    if (this.isFinished) return;
    this.isFinished = true;
    clearTimeout(this.timer);
    this.stopWarning?.();
    this.markSettled?.();
    this.deps.onFinished(this);
  }

  /** Reports progress (0 to 100), as `ctx.progress`. */
  progress(percent: number, message: string): void {
    const p = Math.max(0, Math.min(100, Number(percent) || 0));
    this.deps.onProgress(this.ref, p, String(message).slice(0, 500));
  }

  private abortWith(reason: AbortReason): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
    this.fail(reason);
    if (this.stillRunningWarning && !this.isFinished) {
      this.stopWarning = warnIfStillRunning(() => this.logger(), this.stillRunningWarning);
    }
    for (const listener of this.abortListeners ?? []) listener(reason);
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

  /** The signal `ctx.signal` gives; made on first use. */
  signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** The logger `ctx.log` gives; made on first use. */
  logger(): Logger {
    return (this.log ??= this.deps.logger.child({
      taskId: this.ref.taskId,
      attempt: this.ref.attempt,
    }));
  }
}
