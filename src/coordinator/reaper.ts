import type { Logger } from 'pino';
import { describeError } from '../lib/errors.js';
import type { Db } from '../store/db.js';
import { reapExpired } from '../store/leases.js';
import type { ReapedTask } from '../store/tasks.js';
import type { LeaderElector } from './leadership.js';

/** Options for {@link Reaper}. */
export interface ReaperOptions {
  intervalMs: number;
  logger: Logger;
  /** Reaping is the leader's job; other coordinators skip it. */
  leadership: LeaderElector;
  /** Most tasks returned per statement. @default 1000 */
  batch?: number;
  onReaped?: (tasks: ReapedTask[]) => void;
}

/**
 * Returns the tasks of silent workers (expired leases) to pending, or to dead when their
 * attempts are used up. Runs on every coordinator but acts only on the leader; each reap is
 * fenced by the leader's term in the database and by each task's attempt.
 */
export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly options: ReaperOptions,
  ) {}

  start(): void {
    const tick = (): void => {
      this.running = this.reap().finally(() => {
        if (this.stopped) return;
        this.timer = setTimeout(tick, this.options.intervalMs);
        this.timer.unref();
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private async reap(): Promise<void> {
    try {
      const batch = this.options.batch ?? 1000;
      for (;;) {
        const term = this.options.leadership.current();
        if (!term) return;
        const reaped = await reapExpired(this.db, term, batch);
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
        if (reaped.length < batch || this.stopped) return;
      }
    } catch (err) {
      this.options.logger.warn({ err: describeError(err) }, 'reaping failed');
    }
  }
}
