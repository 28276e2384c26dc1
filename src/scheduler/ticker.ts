import type { Logger } from 'pino';
import { parseCron, ticksToFire } from '../lib/cron.js';
import { describeError } from '../lib/errors.js';
import { Periodic } from '../lib/periodic.js';
import type { Db } from '../store/db.js';
import {
  fireDueSchedules,
  nextScheduleRun,
  type FirePlan,
  type Schedule,
} from '../store/schedules.js';

/** Options for {@link CronTicker}. */
export interface CronTickerOptions {
  logger: Logger;
  /** The clock. Tests pass a controllable one. @default Date.now */
  now?: () => Date;
  /** Longest sleep between passes. @default 1000 */
  maxSleepMs?: number;
}

/**
 * Fires cron schedules. Every scheduler process runs one; a tick fires exactly once however
 * many do, because each is claimed by its (schedule, tick) key. It sleeps until the next
 * due schedule (at most a second, so new and changed schedules are seen quickly).
 */
export class CronTicker {
  private readonly loop: Periodic;
  private readonly now: () => Date;

  constructor(
    private readonly db: Db,
    private readonly options: CronTickerOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.loop = new Periodic(options.maxSleepMs ?? 1000, () => this.pass());
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One pass: fires what is due at the ticker's clock. Returns the tasks created. */
  tick(): Promise<number> {
    return fireDueSchedules(this.db, this.now(), planFiring);
  }

  private async pass(): Promise<number> {
    const max = this.options.maxSleepMs ?? 1000;
    try {
      const created = await this.tick();
      if (created > 0) this.options.logger.info({ tasks: created }, 'cron schedules fired');
      const next = await nextScheduleRun(this.db);
      if (!next) return max;
      return Math.max(10, Math.min(max, next.getTime() - this.now().getTime()));
    } catch (err) {
      this.options.logger.warn({ err: describeError(err) }, 'cron pass failed');
      return max;
    }
  }
}

/** The ticks a due schedule fires now, by its misfire policy, and its next run after now. */
export function planFiring(s: Schedule, now: Date): FirePlan {
  const cron = parseCron(s.cron, s.timezone);
  const ticks = ticksToFire(cron, s.nextRunAt, now, s.misfire, s.catchUpLimit);
  const next = cron.nextRun(now) ?? new Date(8.64e15);
  return { ticks, nextRunAt: next };
}
