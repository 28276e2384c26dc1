import type { Logger } from 'pino';
import { describeError, isTransientDbError } from '../lib/errors.js';
import { sleep } from '../lib/time.js';
import { completeBatch, markStarted } from '../store/complete.js';
import { recordProgress, type ProgressUpdate } from '../store/events.js';
import type { Db } from '../store/db.js';
import type { AttemptRef, AttemptResult, CompletedAttempt } from '../store/tasks.js';
import type { Registry } from './registry.js';

/** Options for {@link Completer}. */
export interface CompleterOptions {
  logger: Logger;
  /** Most results written by one statement. @default 1000 */
  maxBatch?: number;
  /** Results that completed a task (metrics, dispatcher wake-ups). */
  onCompleted?: (done: CompletedAttempt[]) => void;
  /** Results fenced out: the attempt was no longer current. */
  onRejected?: (refs: Array<AttemptRef & { workerId: string }>) => void;
}

interface Pending {
  result: AttemptResult;
  workerId: string;
}

/**
 * Writes workers' reports in batches. While one statement is in flight, the next batch
 * gathers, so under load each statement carries many results and at rest each result is
 * written at once. A start report whose result arrives in the same batch is folded into
 * the completion instead of costing its own write.
 *
 * Results are held until written: when the database is down, the batch is retried, and
 * the worker keeps its copy until acknowledged, so nothing is lost either way.
 */
export class Completer {
  private results: Pending[] = [];
  private starts = new Map<string, AttemptRef & { startedAt: Date }>();
  private progress = new Map<string, ProgressUpdate>();
  private flushing: Promise<void> | undefined;
  private stopped = false;
  private readonly maxBatch: number;

  constructor(
    private readonly db: Db,
    private readonly registry: Registry,
    private readonly options: CompleterOptions,
  ) {
    this.maxBatch = options.maxBatch ?? 1000;
  }

  /** Queues finished attempts reported by `workerId`. */
  addResults(workerId: string, results: AttemptResult[]): void {
    for (const result of results) this.results.push({ result, workerId });
    this.schedule();
  }

  /** Queues start reports. */
  addStarts(refs: Array<AttemptRef & { startedAt: Date }>): void {
    for (const r of refs) this.starts.set(`${r.id}:${r.attempt}`, r);
    this.schedule();
  }

  /** Queues progress reports; only the latest per attempt is written. */
  addProgress(updates: ProgressUpdate[]): void {
    for (const u of updates) this.progress.set(`${u.id}:${u.attempt}`, u);
    this.schedule();
  }

  /** Writes everything queued, then stops taking more. */
  async stop(): Promise<void> {
    await this.drain();
    this.stopped = true;
  }

  /** Resolves once everything queued so far is written. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private schedule(): void {
    if (this.flushing || this.stopped) return;
    // Wait one turn of the event loop before writing: a worker message carries starts before
    // results, and the results of that message (and of the others already read) should fold
    // their starts into the completion rather than cost a statement of their own.
    this.flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.flushLoop())
      .finally(() => {
        this.flushing = undefined;
        if (this.results.length > 0 || this.starts.size > 0 || this.progress.size > 0)
          this.schedule();
      });
  }

  private async flushLoop(): Promise<void> {
    let failures = 0;
    while (this.results.length > 0 || this.starts.size > 0 || this.progress.size > 0) {
      const batch = this.results.slice(0, this.maxBatch);
      for (const p of batch) {
        this.starts.delete(`${p.result.id}:${p.result.attempt}`);
        this.progress.delete(`${p.result.id}:${p.result.attempt}`);
      }
      const starts = [...this.starts.values()];
      const progress = [...this.progress.values()];
      try {
        if (starts.length > 0) await markStarted(this.db, starts);
        for (const s of starts) this.starts.delete(`${s.id}:${s.attempt}`);
        if (progress.length > 0) {
          this.progress.clear();
          // Progress is best effort: a failed write is dropped, the next report replaces it.
          await recordProgress(this.db, progress).catch((err: unknown) =>
            this.options.logger.warn({ err: describeError(err) }, 'recording progress failed'),
          );
        }
        const done =
          batch.length > 0
            ? await completeBatch(
                this.db,
                batch.map((p) => p.result),
              )
            : [];
        this.results.splice(0, batch.length);
        this.acknowledge(batch, done);
        failures = 0;
      } catch (err) {
        if (!isTransientDbError(err) && batch.length > 0) {
          // Not an outage but a statement the database refuses: find the bad result by
          // writing one at a time, so one poisoned report cannot block everyone else's.
          await this.isolate(batch, err);
          this.results.splice(0, batch.length);
          continue;
        }
        failures++;
        this.options.logger.warn(
          { err: describeError(err), results: batch.length, attempt: failures },
          'writing results failed; retrying',
        );
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
        if (this.stopped) return;
      }
    }
  }

  private async isolate(batch: Pending[], cause: unknown): Promise<void> {
    this.options.logger.error(
      { err: describeError(cause), results: batch.length },
      'a result batch was refused; writing one by one',
    );
    for (const p of batch) {
      try {
        this.acknowledge([p], await completeBatch(this.db, [p.result]));
      } catch (err) {
        this.options.logger.error(
          { taskId: p.result.id, attempt: p.result.attempt, err: describeError(err) },
          'result refused by the database; the attempt will be retried when its lease expires',
        );
        this.acknowledge([p], []);
      }
    }
  }

  private acknowledge(batch: Pending[], done: CompletedAttempt[]): void {
    const accepted = new Set(done.map((d) => `${d.id}:${d.attempt}`));
    const acks = new Map<
      string,
      Array<{ ref: { taskId: string; attempt: number }; accepted: boolean }>
    >();
    const rejected: Array<AttemptRef & { workerId: string }> = [];
    for (const { result, workerId } of batch) {
      const ok = accepted.has(`${result.id}:${result.attempt}`);
      if (!ok) rejected.push({ id: result.id, attempt: result.attempt, workerId });
      this.registry.release(result.id);
      let list = acks.get(workerId);
      if (!list) acks.set(workerId, (list = []));
      list.push({ ref: { taskId: result.id, attempt: result.attempt }, accepted: ok });
    }
    for (const [workerId, list] of acks) this.registry.get(workerId)?.send({ acks: list });
    if (done.length > 0) this.options.onCompleted?.(done);
    if (rejected.length > 0) {
      for (const r of rejected) {
        this.options.logger.warn(
          { taskId: r.id, attempt: r.attempt, workerId: r.workerId },
          'stale result rejected: the attempt is no longer current',
        );
      }
      this.options.onRejected?.(rejected);
    }
  }
}
