import type { Logger } from 'pino';
import { describeError } from '../lib/errors.js';
import type { Db } from '../store/db.js';
import { reapExpired } from '../store/leases.js';
import type { ReapedTask } from '../store/tasks.js';

/** Options for {@link Reaper}. */
export interface ReaperOptions {
  intervalMs: number;
  logger: Logger;
  /** Most tasks returned per statement. @default 1000 */
  batch?: number;
  onReaped?: (tasks: ReapedTask[]) => void;
}

/**
 * Returns the tasks of silent workers (expired leases) to pending, or to dead when their
 * attempts are used up. Safe to run on several coordinators at once: each row is locked
 * with SKIP LOCKED and the update is fenced by status and attempt.
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
        const reaped = await reapExpired(this.db, batch);
        if (reaped.length === 0) return;
        for (const t of reaped) {
          this.options.logger.warn(
            { taskId: t.id, attempt: t.attempt, workerId: t.workerId, status: t.status },
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
