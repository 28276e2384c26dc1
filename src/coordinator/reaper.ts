import type { Logger } from 'pino';
import { describeError } from '../lib/errors.js';
import { Periodic } from '../lib/periodic.js';
import { Service, type ServiceOptions, type StopContext } from '../lib/service.js';
import type { Db } from '../store/db.js';
import { reapExpired } from '../store/leases.js';
import type { ReapedTask } from '../store/types.js';
import type { LeaderElector } from './leadership.js';

/** The statements the reaper runs; unit tests replace them. */
export const reaperStore = { reapExpired };

/** Options for {@link Reaper}. */
export interface ReaperOptions extends ServiceOptions {
  /** How often to look for expired leases (monotonic). */
  intervalMs: number;
  logger: Logger;
  /** Reaping is the leader's job; other coordinators skip it. */
  leadership: Pick<LeaderElector, 'current'>;
  /** Most tasks returned per statement. @default 1000 */
  batch?: number;
  onReaped?: (tasks: ReapedTask[]) => void;
  /** @default reaperStore */
  store?: Partial<typeof reaperStore>;
}

/**
 * Returns the tasks of silent workers (expired leases) to pending, or to dead when their
 * attempts are used up. Runs on every coordinator but acts only on the leader; each reap is
 * fenced by the leader's term in the database and by each task's attempt. Lease expiry is
 * judged by the database clock, never ours.
 */
export class Reaper extends Service {
  private readonly loop: Periodic;
  private readonly store: typeof reaperStore;

  constructor(
    private readonly db: Db,
    private readonly options: ReaperOptions,
  ) {
    super(options);
    this.store = { ...reaperStore, ...options.store };
    this.loop = new Periodic(options.intervalMs, () => this.reap(), { clock: this.clock });
  }

  protected override onStart(): void {
    this.loop.start();
  }

  protected override onStop(how: StopContext): Promise<void> {
    return this.loop.stop(how);
  }

  private async reap(): Promise<void> {
    try {
      const batch = this.options.batch ?? 1000;
      for (;;) {
        const term = this.options.leadership.current();
        if (!term) return;
        const reaped = await this.store.reapExpired(this.db, term, batch);
        if (reaped.length === 0) return;
        for (const t of reaped) {
          this.options.logger.warn(
            {
              taskId: t.id,
              attempt: t.attempt,
              workerId: t.workerId,
              status: t.status,
              epoch: term.epoch,
            },
            'lease expired; task returned',
          );
        }
        this.options.onReaped?.(reaped);
        if (reaped.length < batch || this.stopRequested) return;
      }
    } catch (err) {
      this.options.logger.warn({ err: describeError(err) }, 'reaping failed');
    }
  }
}
