import type { Logger } from 'pino';
import { describeError } from '../lib/errors.js';
import type { Db } from '../store/db.js';
import { extendLeases } from '../store/leases.js';
import type { AttemptRef, HeldAttempt } from '../store/types.js';
import { touchWorkers } from '../store/workers.js';
import type { Registry } from './registry.js';

/** Options for {@link LeaseKeeper}. */
export interface LeaseKeeperOptions {
  leaseMs: number;
  /** How often to write the gathered heartbeats. */
  intervalMs: number;
  logger: Logger;
  /**
   * Heartbeats that listed an attempt the worker does not hold (another worker's task, or
   * one taken back from it): the fence refused to extend them.
   */
  onRefused?: (count: number) => void;
}

/**
 * Turns heartbeats into lease extensions: one statement per interval for every attempt
 * every worker on this coordinator holds, not one per worker or per task. An attempt
 * that cannot be extended has lost its lease (reaped, cancelled); its worker is told to
 * abort it.
 */
export class LeaseKeeper {
  private refs = new Map<string, HeldAttempt>();
  private seen = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly registry: Registry,
    private readonly options: LeaseKeeperOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.flushing = this.flush();
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
  }

  /** Records a heartbeat: the worker is alive and says it holds these attempts. */
  heartbeat(workerId: string, running: AttemptRef[]): void {
    this.seen.add(workerId);
    for (const r of running) this.refs.set(`${workerId}:${r.id}:${r.attempt}`, { ...r, workerId });
  }

  /** Forgets attempts whose results are in: they need no lease, and are not refusals. */
  finished(refs: HeldAttempt[]): void {
    for (const r of refs) this.refs.delete(`${r.workerId}:${r.id}:${r.attempt}`);
  }

  private async flush(): Promise<void> {
    const refs = [...this.refs.values()];
    const seen = [...this.seen];
    this.refs.clear();
    this.seen.clear();
    if (refs.length === 0 && seen.length === 0) return;
    try {
      const [extended] = await Promise.all([
        extendLeases(this.db, refs, this.options.leaseMs),
        touchWorkers(this.db, seen),
      ]);
      const kept = new Set(extended.map((r) => `${r.workerId}:${r.id}:${r.attempt}`));
      let refused = 0;
      const aborts = new Map<
        string,
        Array<{ ref: { taskId: string; attempt: number }; reason: string }>
      >();
      for (const r of refs) {
        if (kept.has(`${r.workerId}:${r.id}:${r.attempt}`)) continue;
        refused++;
        // Usually the attempt just finished (its result landed after the heartbeat that
        // listed it); the reaper and cancel log the other cases themselves.
        this.options.logger.debug(
          { taskId: r.id, attempt: r.attempt, workerId: r.workerId },
          'lease not extended (finished, reaped or cancelled); the worker stops it if still running',
        );
        let list = aborts.get(r.workerId);
        if (!list) aborts.set(r.workerId, (list = []));
        list.push({
          ref: { taskId: r.id, attempt: r.attempt },
          reason: 'lease lost: the task was reaped or cancelled',
        });
      }
      if (refused > 0) this.options.onRefused?.(refused);
      for (const workerId of seen) {
        this.registry
          .get(workerId)
          ?.send({ abort: aborts.get(workerId) ?? [], leasesExtended: true });
      }
    } catch (err) {
      // No confirmation goes out: workers that stay unconfirmed for a lease abort on their own.
      this.options.logger.warn({ err: describeError(err) }, 'extending leases failed');
    }
  }
}
