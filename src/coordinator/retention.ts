import type { Logger } from 'pino';
import { describeError } from '../lib/errors.js';
import { Periodic } from '../lib/periodic.js';
import { Service, type ServiceOptions, type StopContext } from '../lib/service.js';
import type { Db } from '../store/db.js';
import { deleteFinished } from '../store/retention.js';
import type { LeaderElector } from './leadership.js';

/** The statements retention runs; unit tests replace them. */
export const retentionStore = { deleteFinished };

/** Options for {@link Retention}. */
export interface RetentionOptions extends ServiceOptions {
  /** Finished tasks older than this (by the database clock) are deleted. */
  keepMs: number;
  /** How often to sweep (monotonic). */
  intervalMs: number;
  logger: Logger;
  /** Retention is the leader's job; other coordinators skip it. */
  leadership: Pick<LeaderElector, 'current'>;
  /** Most tasks deleted per statement. @default 1000 */
  batch?: number;
  onDeleted?: (count: number) => void;
  /** @default retentionStore */
  store?: Partial<typeof retentionStore>;
}

/**
 * Deletes finished tasks (and their attempts) once they are older than the retention
 * period, in small statements so no lock is held for long. Pending and running tasks are
 * never touched, however old.
 */
export class Retention extends Service {
  private readonly loop: Periodic;
  private readonly store: typeof retentionStore;

  constructor(
    private readonly db: Db,
    private readonly options: RetentionOptions,
  ) {
    super(options);
    this.store = { ...retentionStore, ...options.store };
    this.loop = new Periodic(options.intervalMs, () => this.sweep(), { clock: this.clock });
  }

  protected override onStart(): void {
    this.loop.start();
  }

  protected override onStop(how: StopContext): Promise<void> {
    return this.loop.stop(how);
  }

  private async sweep(): Promise<void> {
    const batch = this.options.batch ?? 1000;
    let total = 0;
    try {
      for (;;) {
        const term = this.options.leadership.current();
        if (!term) break;
        const n = await this.store.deleteFinished(this.db, term, this.options.keepMs, batch);
        total += n;
        if (n > 0) this.options.onDeleted?.(n);
        if (n < batch || this.stopRequested) break;
      }
    } catch (err) {
      this.options.logger.warn({ err: describeError(err) }, 'deleting old finished tasks failed');
    }
    if (total > 0) this.options.logger.info({ deleted: total }, 'deleted old finished tasks');
  }
}
