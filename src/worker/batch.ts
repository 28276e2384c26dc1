import { ROOT_CONTEXT, context, trace, type Link } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../lib/clock.js';
import { SpanKind, failSpan, tracer } from '../lib/trace.js';
import { warnIfStillRunning, type TaskAttempt } from './attempt.js';
import type { ResolvedBatchOptions } from './options.js';
import { TaskError, type BatchContext, type BatchHandler } from './types.js';

/**
 * Gathers the tasks of one batch handler into batches and runs them.
 *
 * A batch runs when it holds `size` tasks, when `waitMs` has passed since its first task
 * arrived, or when the worker calls {@link flush} because no more tasks can come (its slots
 * are all in use, or it is stopping). A gathered task is held like a running one: it has its
 * slot, heartbeats keep its lease, and an abort (cancel, lost lease) takes it out of the
 * batch and reports it at once.
 */
export class BatchCollector {
  private pending: TaskAttempt[] = [];
  private timer: Timer | undefined;

  constructor(
    readonly name: string,
    private readonly handler: BatchHandler,
    readonly options: ResolvedBatchOptions,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Tasks gathered for the next batch. */
  get gathered(): number {
    return this.pending.length;
  }

  /** Adds a task that has just arrived; runs the batch if that fills it. */
  add(attempt: TaskAttempt): void {
    this.pending.push(attempt);
    attempt.onAbort(() => this.drop(attempt));
    if (this.pending.length >= this.options.size) this.flush();
    else
      this.timer ??= this.clock.setTimeout(() => this.flush(), this.options.waitMs, {
        keepAlive: true,
      });
  }

  /** Runs what is gathered now, if anything. */
  flush(): void {
    this.timer?.clear();
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    void runBatch(this.name, this.handler, batch, this.logger);
  }

  /** An aborted task that has not started leaves the batch; its slot is free at once. */
  private drop(attempt: TaskAttempt): void {
    const i = this.pending.indexOf(attempt);
    if (i < 0) return;
    this.pending.splice(i, 1);
    if (this.pending.length === 0) {
      this.timer?.clear();
      this.timer = undefined;
    }
    attempt.finish();
  }
}

/**
 * Runs one batch: starts every task (start reports, spans, `timeout_ms` timers), calls the
 * handler once, and reports each task's result from its place in the returned array. A task
 * aborted meanwhile (timeout, cancel, lost lease) has already reported, so its place is
 * ignored. Every task's slot is freed when the handler returns.
 */
export async function runBatch(
  name: string,
  handler: BatchHandler,
  attempts: readonly TaskAttempt[],
  logger: Logger,
): Promise<void> {
  const n = attempts.length;
  const controller = new AbortController();
  let running = true;
  let aborted = 0;
  let stopWarning: (() => void) | undefined;
  let log: Logger | undefined;
  const batchLog = (): Logger => (log ??= logger.child({ handler: name, batchSize: n }));
  const links: Link[] = [];
  for (const attempt of attempts) {
    attempt.begin('handler');
    const spanContext = attempt.spanContext;
    if (spanContext) links.push({ context: spanContext });
    attempt.onAbort((reason) => {
      if (!running || ++aborted < n) return;
      controller.abort(reason);
      stopWarning = warnIfStillRunning(
        batchLog,
        'batch handler ignores its AbortSignal and is still running; its slots stay busy',
      );
    });
  }
  const deadlines = attempts.flatMap((a) => (a.deadline === undefined ? [] : [a.deadline]));
  const ctx: BatchContext = {
    handler: name,
    signal: controller.signal,
    deadline: deadlines.length > 0 ? new Date(Math.min(...deadlines)) : undefined,
    get log() {
      return batchLog();
    },
  };
  const span = tracer().startSpan(
    `taskq.run_batch ${name}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: { 'taskq.component': 'worker', 'taskq.batch_size': n },
      links,
    },
    ROOT_CONTEXT,
  );
  const call = async (): Promise<unknown> => {
    try {
      const tasks = attempts.map((a) => ({ payload: a.payload(), ctx: a.ctx }));
      const results = await context.with(trace.setSpan(ROOT_CONTEXT, span), () =>
        handler(tasks, ctx),
      );
      span.end();
      return results;
    } catch (err) {
      failSpan(span, err);
      throw err;
    }
  };
  try {
    reportResults(name, attempts, await call());
  } catch (err) {
    for (const a of attempts) a.fail(err);
  } finally {
    running = false;
    stopWarning?.();
    for (const a of attempts) a.finish();
  }
}

/**
 * Reports each task's place in a batch handler's answer: a value succeeds, an Error fails.
 * An answer that is not one result per task fails them all, without retries: it is a bug in
 * the handler, not in the tasks.
 */
function reportResults(name: string, attempts: readonly TaskAttempt[], results: unknown): void {
  const n = attempts.length;
  if (!Array.isArray(results) || results.length !== n) {
    const got = Array.isArray(results) ? plural(results.length, 'result') : 'no array';
    const err = new TaskError(
      `batch handler '${name}' returned ${got} for ${plural(n, 'task')}: it must return one result per task, in order`,
      { retryable: false },
    );
    for (const a of attempts) a.fail(err);
    return;
  }
  attempts.forEach((a, i) => {
    const result: unknown = results[i];
    if (result instanceof Error) a.fail(result);
    else a.succeed(result);
  });
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
