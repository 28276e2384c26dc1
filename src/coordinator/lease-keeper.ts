import type { Logger } from 'pino';
import { describeError } from '../lib/errors.js';
import { Periodic } from '../lib/periodic.js';
import { Service, type ServiceOptions, type StopContext } from '../lib/service.js';
import type { Db } from '../store/db.js';
import { extendLeases } from '../store/leases.js';
import type { AttemptRef, HeldAttempt } from '../store/types.js';
import { touchWorkers } from '../store/workers.js';
import type { Registry } from './registry.js';

/** The statements the lease keeper runs; unit tests replace them. */
export const leaseKeeperStore = { extendLeases, touchWorkers };

/** Options for {@link LeaseKeeper}. */
export interface LeaseKeeperOptions extends ServiceOptions {
  /** How far past the database's now() each extension sets a lease. */
  leaseMs: number;
  /** How often to write the gathered heartbeats (monotonic). */
  intervalMs: number;
  logger: Logger;
  /**
   * Heartbeats that listed an attempt the worker does not hold (another worker's task, or
   * one taken back from it): the fence refused to extend them.
   */
  onRefused?: (count: number) => void;
  /** @default leaseKeeperStore */
  store?: Partial<typeof leaseKeeperStore>;
}

/**
 * Turns heartbeats into lease extensions: one statement per interval for every attempt
 * every worker on this coordinator holds, not one per worker or per task. An attempt
 * that cannot be extended has lost its lease (reaped, cancelled); its worker is told to
 * abort it. Writes never overlap: a slow one delays the next, whose statement then carries
 * the heartbeats of both intervals.
 */
export class LeaseKeeper extends Service {
  private refs = new Map<string, HeldAttempt>();
  private seen = new Set<string>();
  private readonly loop: Periodic;
  private readonly store: typeof leaseKeeperStore;

  constructor(
    private readonly db: Db,
    private readonly registry: Registry,
    private readonly options: LeaseKeeperOptions,
  ) {
    super(options);
    this.store = { ...leaseKeeperStore, ...options.store };
    // The first write waits one interval: until then no heartbeat has gathered.
    this.loop = new Periodic(options.intervalMs, () => this.flush(), {
      clock: this.clock,
      immediate: false,
    });
  }

  protected override onStart(): void {
    this.loop.start();
  }

  /** Stops writing; the write in flight (if any) is awaited. */
  protected override onStop(how: StopContext): Promise<void> {
    return this.loop.stop(how);
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
        this.store.extendLeases(this.db, refs, this.options.leaseMs),
        this.store.touchWorkers(this.db, seen),
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
