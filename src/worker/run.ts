import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import type { Assignment, ResultSchema } from '../gen/taskqueue/v1/worker_pb.js';
import { parseCommand } from '../lib/command.js';
import { describeError } from '../lib/errors.js';
import {
  TaskError,
  WaitForChildren,
  type ChildOutcome,
  type ChildTask,
  type FailedTask,
  type Handler,
  type TaskContext,
} from './types.js';
import { context, trace } from '@opentelemetry/api';
import { SpanKind, contextOf, failSpan, startSpan } from '../lib/trace.js';

type ResultInit = MessageInitShape<typeof ResultSchema>;
type Ref = { taskId: string; attempt: number };

/** One task a worker is running. */
export interface RunningTask {
  readonly ref: Ref;
  /** True once the result is produced (it may still be waiting for its ack). */
  readonly reported: boolean;
  /** When a coordinator last confirmed this attempt's lease (at first, when it arrived). */
  leaseConfirmedAt: number;
  /** Resolves when the handler has returned, which frees the slot. */
  readonly settled: Promise<void>;
  abort(reason: string): void;
}

/** What {@link runTask} needs from its worker. */
export interface RunDeps {
  handlers: ReadonlyMap<string, Handler>;
  shell: Handler | undefined;
  logger: Logger;
  onStarted(ref: Ref, startedAtMs: number): void;
  onProgress(ref: Ref, percent: number, message: string): void;
  onResult(result: ResultInit): void;
}

/** Why a task's signal aborted. */
class AbortReason extends Error {
  constructor(
    readonly kind: 'timeout' | 'abort',
    message: string,
  ) {
    super(message);
  }
}

const STILL_RUNNING_WARNING_MS = 30_000;

/**
 * Runs one assignment: picks the handler by the command's first word (or the shell
 * executor), enforces the task's timeout through its AbortSignal, and reports exactly one
 * result. On timeout or abort the result goes out at once, while the slot stays busy until
 * the handler really returns, so concurrency is never exceeded.
 *
 * This is the worker's per-task hot path, so what most handlers never touch is made on
 * first use: the AbortController when the handler reads `ctx.signal`, the child logger when
 * it reads `ctx.log`.
 */
export function runTask(a: Assignment, deps: RunDeps): RunningTask {
  const ref = { taskId: a.ref?.taskId ?? '', attempt: a.ref?.attempt ?? 0 };
  const { handler: name, args } = parseCommand(a.command);
  let executor = 'handler';
  let fn = deps.handlers.get(name);
  if (!fn && deps.shell) {
    fn = deps.shell;
    executor = 'shell';
  }
  let reported = false;
  const startedAtMs = Date.now();
  let controller: AbortController | undefined;
  let abortReason: AbortReason | undefined;
  let log: Logger | undefined;
  const logger = (): Logger =>
    (log ??= deps.logger.child({ taskId: ref.taskId, attempt: ref.attempt }));

  const report = (outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void => {
    if (reported) return;
    reported = true;
    if (outcome.ok) span.end();
    else failSpan(span, outcome.error);
    const base = {
      ref,
      executor,
      startedAtMs: BigInt(startedAtMs),
      finishedAtMs: BigInt(Date.now()),
    };
    if (outcome.ok) {
      if (outcome.value instanceof WaitForChildren) {
        const children = [
          ...spawned,
          ...outcome.value.children.filter((c) => !spawned.includes(c)),
        ];
        deps.onResult({
          ...base,
          ok: true,
          waitForChildren: true,
          childrenJson: JSON.stringify(children),
        });
        return;
      }
      let resultJson: string;
      try {
        resultJson = JSON.stringify(outcome.value ?? null);
      } catch (err) {
        deps.onResult({
          ...base,
          ok: false,
          error: `result is not JSON-serializable: ${describeError(err)}`,
          retryable: false,
          failure: 'error',
        });
        return;
      }
      deps.onResult({
        ...base,
        ok: true,
        resultJson,
        ...(spawned.length > 0 ? { childrenJson: JSON.stringify(spawned) } : {}),
      });
      return;
    }
    const err = outcome.error;
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
    deps.onResult({
      ...base,
      ok: false,
      error: describeError(err),
      retryable,
      failure: timeout ? 'timeout' : 'error',
      resultJson,
    });
  };

  let stillRunning: NodeJS.Timeout | undefined;
  /** Reports the failure at once; the slot stays busy until the handler returns. */
  const abortWith = (reason: AbortReason): void => {
    if (abortReason) return;
    abortReason = reason;
    controller?.abort(reason);
    report({ ok: false, error: reason });
    stillRunning = setTimeout(
      () =>
        logger().warn('handler ignores its AbortSignal and is still running; its slot stays busy'),
      STILL_RUNNING_WARNING_MS,
    );
  };

  const timer =
    a.timeoutMs > 0
      ? setTimeout(
          () => abortWith(new AbortReason('timeout', `timed out after ${a.timeoutMs} ms`)),
          a.timeoutMs,
        )
      : undefined;

  const inputs = parseInputs(a.inputsJson);
  const spawned: ChildTask[] = [];
  const ctx: TaskContext = {
    parents: inputs.parents ?? {},
    children: inputs.children,
    failure: inputs.failed,
    spawn(children) {
      spawned.push(...children);
      return children;
    },
    waitFor(children = []) {
      return new WaitForChildren(children);
    },
    taskId: ref.taskId,
    attempt: ref.attempt,
    maxAttempts: a.maxAttempts,
    command: a.command,
    args,
    queue: a.queue,
    scheduledAt: new Date(Number(a.scheduledAtMs)),
    get signal() {
      if (!controller) {
        controller = new AbortController();
        if (abortReason) controller.abort(abortReason);
      }
      return controller.signal;
    },
    get log() {
      return logger();
    },
    progress(percent, message = '') {
      const p = Math.max(0, Math.min(100, Number(percent) || 0));
      deps.onProgress(ref, p, String(message).slice(0, 500));
    },
  };

  deps.onStarted(ref, startedAtMs);
  // The handler runs inside the task's trace (when it has one), so its own spans nest.
  const span = startSpan(
    `taskq.run ${name}`,
    a.traceParent || null,
    {
      'taskq.component': 'worker',
      'taskq.task_id': ref.taskId,
      'taskq.attempt': ref.attempt,
      'taskq.executor': executor,
    },
    SpanKind.CONSUMER,
  );
  const work = (async () => {
    if (!fn) throw new TaskError(`this worker has no handler '${name}'`);
    const payload: unknown = a.payloadJson ? JSON.parse(a.payloadJson) : null;
    return await context.with(trace.setSpan(contextOf(a.traceParent || null), span), () =>
      fn(payload, ctx),
    );
  })();

  const settled = work
    .then(
      (value) => report({ ok: true, value }),
      (error: unknown) => report({ ok: false, error }),
    )
    .finally(() => {
      clearTimeout(timer);
      clearTimeout(stillRunning);
    });

  return {
    ref,
    leaseConfirmedAt: startedAtMs,
    get reported() {
      return reported;
    },
    settled,
    abort(reason: string) {
      abortWith(new AbortReason('abort', reason));
    },
  };
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
