import type { Logger } from 'pino';
import { describeError } from '../lib/errors.js';
import { Periodic } from '../lib/periodic.js';
import type { Db } from '../store/db.js';
import { deleteFinished } from '../store/retention.js';
import type { LeaderElector } from './leadership.js';

/** Options for {@link Retention}. */
export interface RetentionOptions {
  /** Finished tasks older than this are deleted. */
  keepMs: number;
  intervalMs: number;
  logger: Logger;
  /** Retention is the leader's job; other coordinators skip it. */
  leadership: LeaderElector;
  /** Most tasks deleted per statement. @default 1000 */
  batch?: number;
  onDeleted?: (count: number) => void;
}

/**
 * Deletes finished tasks (and their attempts) once they are older than the retention
 * period, in small statements so no lock is held for long. Pending and running tasks are
 * never touched, however old.
 */
export class Retention {
  private readonly loop: Periodic;

  constructor(
    private readonly db: Db,
    private readonly options: RetentionOptions,
  ) {
    this.loop = new Periodic(options.intervalMs, () => this.sweep());
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async sweep(): Promise<void> {
    const batch = this.options.batch ?? 1000;
    let total = 0;
    try {
      for (;;) {
        const term = this.options.leadership.current();
        if (!term) break;
        const n = await deleteFinished(this.db, term, this.options.keepMs, batch);
        total += n;
        if (n > 0) this.options.onDeleted?.(n);
        if (n < batch || this.loop.isStopped) break;
      }
    } catch (err) {
      this.options.logger.warn({ err: describeError(err) }, 'deleting old finished tasks failed');
    }
    if (total > 0) this.options.logger.info({ deleted: total }, 'deleted old finished tasks');
  }
}
