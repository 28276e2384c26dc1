import type { Logger } from 'pino';
import { sleepOn } from '../lib/clock.js';
import { describeError, isTransientDbError } from '../lib/errors.js';
import { Service, type ServiceOptions, type StopContext } from '../lib/service.js';
import { completeBatch, completeWithChildren, markStarted } from '../store/complete.js';
import { recordProgress, type ProgressUpdate } from '../store/events.js';
import type { Db } from '../store/db.js';
import type { AttemptResult, CompletedAttempt, HeldAttempt } from '../store/types.js';
import { packRefs, type Ref } from '../lib/packed.js';
import type { Registry } from './registry.js';

/** The statements the completer runs; unit tests replace them. */
export const completerStore = { markStarted, recordProgress, completeBatch, completeWithChildren };

/** Options for {@link Completer}. */
export interface CompleterOptions extends ServiceOptions {
  logger: Logger;
  /** Most results written by one statement. @default 1000 */
  maxBatch?: number;
  /** Results that completed a task (metrics, dispatcher wake-ups). */
  onCompleted?: (done: CompletedAttempt[]) => void;
  /**
   * Reports the fence refused: the attempt was no longer current, or the reporting worker
   * did not hold it.
   */
  onRefused?: (kind: 'result' | 'start' | 'progress', count: number) => void;
  /** @default completerStore */
  store?: Partial<typeof completerStore>;
}

/**
 * The wait before writing again after a transient database error: 200 ms after the first,
 * doubling to 5 s, so an outage is not hammered and a blip costs little.
 */
export function retryDelayMs(failures: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(failures, 6));
}

/** The key of one worker's report on one attempt: another worker's report never replaces it. */
function reportKey(r: HeldAttempt): string {
  return `${r.workerId}:${r.id}:${r.attempt}`;
}

/**
 * Writes workers' reports in batches. While one statement is in flight, the next batch
 * gathers, so under load each statement carries many results and at rest each result is
 * written at once. A start report whose result arrives in the same batch is folded into
 * the completion instead of costing its own write.
 *
 * Results are held until written: when the database is down, the batch is retried, and
 * the worker keeps its copy until acknowledged, so nothing is lost either way.
 *
 * It needs no start(): it writes when reports arrive. A graceful stop writes everything
 * queued first; `stop({ graceful: false })` ends after the statement in flight, and
 * `timeoutMs` ends a retry in backoff. What is left unwritten is not acknowledged, so its
 * worker reports it again, here or elsewhere.
 */
export class Completer extends Service {
  private results: AttemptResult[] = [];
  private starts = new Map<string, HeldAttempt & { startedAt: Date }>();
  private progress = new Map<string, ProgressUpdate>();
  private flushing: Promise<void> | undefined;
  /** Aborted once stopping has written what it should: nothing more is, and a backoff ends. */
  private readonly closing = new AbortController();
  private readonly maxBatch: number;
  private readonly store: typeof completerStore;

  constructor(
    private readonly db: Db,
    private readonly registry: Registry,
    private readonly options: CompleterOptions,
  ) {
    super(options);
    this.maxBatch = options.maxBatch ?? 1000;
    this.store = { ...completerStore, ...options.store };
  }

  /** Queues finished attempts. */
  addResults(results: AttemptResult[]): void {
    for (const result of results) this.results.push(result);
    this.schedule();
  }

  /** Queues start reports. */
  addStarts(refs: Array<HeldAttempt & { startedAt: Date }>): void {
    for (const r of refs) this.starts.set(reportKey(r), r);
    this.schedule();
  }

  /** Queues progress reports; only the latest per attempt and reporter is written. */
  addProgress(updates: ProgressUpdate[]): void {
    for (const u of updates) this.progress.set(reportKey(u), u);
    this.schedule();
  }

  protected override async onStop(how: StopContext): Promise<void> {
    const close = () => this.closing.abort();
    if (!how.graceful) close();
    how.signal.addEventListener('abort', close, { once: true });
    await this.drain();
    close();
  }

  private get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** Resolves once everything queued so far is written. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private schedule(): void {
    if (this.flushing || this.closed) return;
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
    while (
      !this.closed &&
      (this.results.length > 0 || this.starts.size > 0 || this.progress.size > 0)
    ) {
      const batch = this.results.slice(0, this.maxBatch);
      // A start folds into its result's completion. Progress does not: the last report before
      // a handler returns often arrives with its result, and is written first, so the task
      // (and its watchers) see it before the final status.
      for (const r of batch) this.starts.delete(reportKey(r));
      const starts = [...this.starts.values()];
      const progress = [...this.progress.values()];
      try {
        if (starts.length > 0) {
          const stored = await this.store.markStarted(this.db, starts);
          if (stored < starts.length) this.options.onRefused?.('start', starts.length - stored);
        }
        for (const s of starts) this.starts.delete(reportKey(s));
        if (progress.length > 0) {
          this.progress.clear();
          // Progress is best effort: a failed write is dropped, the next report replaces it.
          await this.store.recordProgress(this.db, progress).then(
            (stored) => {
              if (stored < progress.length)
                this.options.onRefused?.('progress', progress.length - stored);
            },
            (err: unknown) =>
              this.options.logger.warn({ err: describeError(err) }, 'recording progress failed'),
          );
        }
        const done = batch.length > 0 ? await this.write(batch) : [];
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
        await sleepOn(this.clock, retryDelayMs(failures), this.closing.signal);
      }
    }
  }

  /**
   * Writes results: plain ones in one statement; one that spawned children in a transaction
   * of its own, with its children (they are rare, and each is a graph of inserts).
   */
  private async write(batch: AttemptResult[]): Promise<CompletedAttempt[]> {
    const plain = batch.filter((r) => !r.children);
    const done = plain.length > 0 ? await this.store.completeBatch(this.db, plain) : [];
    for (const r of batch) {
      if (!r.children) continue;
      const recorded = await this.store.completeWithChildren(
        this.db,
        r,
        r.children,
        r.waitForChildren ?? false,
      );
      if (recorded) done.push(recorded);
    }
    return done;
  }

  private async isolate(batch: AttemptResult[], cause: unknown): Promise<void> {
    this.options.logger.error(
      { err: describeError(cause), results: batch.length },
      'a result batch was refused; writing one by one',
    );
    for (const r of batch) {
      try {
        this.acknowledge([r], await this.write([r]));
      } catch (err) {
        this.options.logger.error(
          { taskId: r.id, attempt: r.attempt, err: describeError(err) },
          'result refused by the database; the attempt will be retried when its lease expires',
        );
        this.acknowledge([r], []);
      }
    }
  }

  private acknowledge(batch: AttemptResult[], done: CompletedAttempt[]): void {
    const accepted = new Set(done.map(reportKey));
    const acks = new Map<string, { accepted: Ref[]; refused: Ref[] }>();
    let refused = 0;
    for (const r of batch) {
      const ok = accepted.has(reportKey(r));
      if (!ok) {
        refused++;
        this.options.logger.warn(
          { taskId: r.id, attempt: r.attempt, workerId: r.workerId },
          'result refused: the attempt is no longer current, or this worker does not hold it',
        );
      }
      // Only the holder's report frees its slot on the stream: another worker's cannot.
      this.registry.release(r.id, r.workerId);
      let lists = acks.get(r.workerId);
      if (!lists) acks.set(r.workerId, (lists = { accepted: [], refused: [] }));
      (ok ? lists.accepted : lists.refused).push({ taskId: r.id, attempt: r.attempt });
    }
    for (const [workerId, lists] of acks) {
      this.registry.get(workerId)?.send({
        accepted: lists.accepted.length > 0 ? packRefs(lists.accepted) : undefined,
        refused: lists.refused.length > 0 ? packRefs(lists.refused) : undefined,
      });
    }
    if (done.length > 0) this.options.onCompleted?.(done);
    if (refused > 0) this.options.onRefused?.('result', refused);
  }
}
