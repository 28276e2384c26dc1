import { Cron } from 'croner';
import { ValidationError } from './errors.js';

/** What to do about ticks missed while nothing was running. */
export type MisfirePolicy = 'skip' | 'run_once' | 'run_all';

/** A tick counts as on time when fired within this long of its instant. */
export const ON_TIME_MS = 60_000;

/**
 * Parses a 5-field (minute precision) or 6-field (with seconds) cron expression in a time zone.
 * @throws ValidationError naming `cron` or `timezone`.
 */
export function parseCron(expression: string, timezone: string): Cron {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new ValidationError(
      `timezone "${timezone}" is not an IANA time zone such as UTC or Europe/Paris`,
      'timezone',
    );
  }
  const fields = expression.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    throw new ValidationError(
      `cron must have 5 fields (minute hour day month weekday) or 6 (with seconds first); got ${fields}`,
      'cron',
    );
  }
  try {
    const c = new Cron(expression.trim(), { timezone, paused: true });
    if (!c.nextRun(new Date())) throw new Error('it never fires');
    return c;
  } catch (err) {
    throw new ValidationError(
      `cron "${expression}" is not valid: ${(err as Error).message.replace(/^CronPattern: /, '')}`,
      'cron',
    );
  }
}

/** The next `n` instants after `from`. */
export function nextRuns(cron: Cron, from: Date, n: number): Date[] {
  return cron.nextRuns(n, from);
}

/**
 * The ticks in (after, upTo] that a schedule with this misfire policy fires now:
 * - skip: only ticks still on time (within {@link ON_TIME_MS});
 * - run_once: the latest missed tick, once;
 * - run_all: every missed tick, the latest `limit` of them.
 */
export function ticksToFire(
  cron: Cron,
  after: Date,
  upTo: Date,
  policy: MisfirePolicy,
  limit: number,
): Date[] {
  const ticks: Date[] = [];
  // Keep only the latest `limit + 1` while walking: a long outage must not build a huge list.
  for (
    let t = cron.nextRun(new Date(after.getTime() - 1));
    t && t.getTime() <= upTo.getTime();
    t = cron.nextRun(t)
  ) {
    if (t.getTime() < after.getTime()) continue;
    ticks.push(t);
    if (ticks.length > limit + 1) ticks.shift();
  }
  if (ticks.length === 0) return [];
  switch (policy) {
    case 'skip':
      return ticks.filter((t) => upTo.getTime() - t.getTime() <= ON_TIME_MS).slice(-1);
    case 'run_once':
      return ticks.slice(-1);
    case 'run_all':
      return ticks.slice(-limit);
  }
}
