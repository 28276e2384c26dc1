import type { Logger } from 'pino';
import type { SubmitWorkflowInput } from '../api/schemas/workflows.js';
import { buildWorkflow } from '../api/services/workflow-graph.js';
import { parseCron, ticksToFire } from '../lib/cron.js';
import { describeError } from '../lib/errors.js';
import { Periodic } from '../lib/periodic.js';
import { Service, type ServiceOptions, type StopContext } from '../lib/service.js';
import type { Db } from '../store/db.js';
import {
  fireDueSchedules,
  nextScheduleRun,
  type FirePlan,
  type Schedule,
  type ScheduleFiring,
} from '../store/schedules.js';

/** Options for {@link CronTicker}. */
export interface CronTickerOptions extends ServiceOptions {
  logger: Logger;
  /**
   * The wall clock that cron ticks are read on, where a test wants to set it apart from the
   * timers (which run on `clock`).
   * @default the wall clock of `clock`
   */
  now?: () => Date;
  /** Longest sleep between passes (monotonic). @default 1000 */
  maxSleepMs?: number;
}

/**
 * Fires cron schedules: each tick starts the schedule's task, or its workflow, built as a
 * submit builds one. Every scheduler process runs one; a tick fires exactly once however
 * many do, because each is claimed by its (schedule, tick) key. It sleeps until the next
 * due schedule (at most a second, so new and changed schedules are seen quickly). Ticks are
 * wall-clock instants; the sleep until the next one is armed on the monotonic clock.
 */
export class CronTicker extends Service {
  private readonly loop: Periodic;
  private readonly now: () => Date;
  private readonly firing: ScheduleFiring;

  constructor(
    private readonly db: Db,
    private readonly options: CronTickerOptions,
  ) {
    super(options);
    this.now = options.now ?? (() => new Date(this.clock.now()));
    this.loop = new Periodic(options.maxSleepMs ?? 1000, () => this.pass(), { clock: this.clock });
    this.firing = {
      plan: planFiring,
      workflow: (s, run) => buildWorkflow(s.workflow as SubmitWorkflowInput, run),
      // The API checked the body when it was stored; a release with stricter checks may refuse it.
      onSkipped: (s, tick, err) =>
        options.logger.warn(
          { schedule: s.name, tick: tick.toISOString(), err: describeError(err) },
          "cron tick skipped: the schedule's workflow does not pass the checks; change it (PATCH /v1/schedules/:ref)",
        ),
    };
  }

  protected override onStart(): void {
    this.loop.start();
  }

  protected override onStop(how: StopContext): Promise<void> {
    return this.loop.stop(how);
  }

  /** One pass: fires what is due at the ticker's clock. Returns the runs started. */
  tick(): Promise<number> {
    return fireDueSchedules(this.db, this.now(), this.firing);
  }

  private async pass(): Promise<number> {
    const max = this.options.maxSleepMs ?? 1000;
    try {
      const created = await this.tick();
      if (created > 0) this.options.logger.info({ runs: created }, 'cron schedules fired');
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
