import { Cron } from 'croner';
import { ValidationError } from './errors.js';

/** What to do about ticks missed while nothing was running. */
export type MisfirePolicy = 'skip' | 'run_once' | 'run_all';

/** A tick counts as on time when fired within this long of its instant. */
export const ON_TIME_MS = 60_000;

/**
 * A cron expression in its time zone. Its runs are one sequence, the same for every caller:
 * the schedule's `next_run_at`, its `next_runs` list and the ticker that fires it all step
 * through it with {@link CronSchedule.nextRun}.
 */
export interface CronSchedule {
  /** The first run strictly after `after`, or null when the expression never fires again. */
  nextRun(after: Date): Date | null;
}

/**
 * Longer than any change of a zone's UTC offset (1 h; 30 min at Lord Howe; 2 h in the old
 * double summer time): looking this far back from an instant finds the offset before a
 * change that could still hold runs after it.
 */
const OFFSET_CHANGE_WINDOW_MS = 3 * 3_600_000;

/**
 * croner in a time zone, made consistent across DST gaps. On the night clocks jump from 02:00
 * to 03:00, the runs whose wall-clock time does not exist (02:00 to 02:59) fire as if the clock
 * had not jumped yet: 02:30 fires at 03:30. croner alone finds such a run only from an instant
 * before the jump: asked from 03:10 for `30 2 28 3 *`, it skips to the next year, and asked from
 * 03:00 for `0,30 2 * * *`, to the next day. So for an instant within the jump's shadow, this
 * also asks croner in the offset from before the jump, and keeps the run if its wall-clock
 * time falls in the gap. An hour that repeats (clocks back) is croner's: its runs fire once.
 */
class ZonedCron implements CronSchedule {
  private readonly offsetName: Intl.DateTimeFormat;
  /** The same expression in a fixed UTC offset, by offset in minutes. */
  private readonly fixed = new Map<number, Cron>();

  constructor(
    private readonly pattern: string,
    private readonly zoned: Cron,
    timezone: string,
  ) {
    this.offsetName = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      timeZoneName: 'longOffset',
    });
  }

  nextRun(after: Date): Date | null {
    const direct = this.zoned.nextRun(after);
    const before = this.offsetMinutes(after.getTime() - OFFSET_CHANGE_WINDOW_MS);
    const now = this.offsetMinutes(after.getTime());
    if (now <= before) return direct;
    // The clocks jumped forward within the window: a run in the gap may still be ahead.
    const inGap = this.inOffset(before).nextRun(after);
    if (!inGap || (direct && direct.getTime() <= inGap.getTime())) return direct;
    const shiftMs = (now - before) * 60_000;
    // Its wall-clock time (in the old offset) is in the gap if, one shift earlier, the old
    // offset still held.
    return this.offsetMinutes(inGap.getTime() - shiftMs) === before ? inGap : direct;
  }

  private inOffset(minutes: number): Cron {
    let c = this.fixed.get(minutes);
    if (!c)
      this.fixed.set(minutes, (c = new Cron(this.pattern, { utcOffset: minutes, paused: true })));
    return c;
  }

  /** The zone's UTC offset at `ms`, in minutes east of UTC. */
  private offsetMinutes(ms: number): number {
    const name = this.offsetName.formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value;
    const m = /([+-])(\d{2}):(\d{2})/.exec(name ?? '');
    if (!m) return 0; // "GMT": UTC itself
    return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  }
}

/**
 * The fields of a 6-field expression (a 5-field one has no seconds), with the words each
 * may hold besides numbers: month and weekday names, and L (last), W (weekday) and # (nth).
 */
const FIELDS = [
  { name: 'second', min: 0, max: 59, words: null },
  { name: 'minute', min: 0, max: 59, words: null },
  { name: 'hour', min: 0, max: 23, words: null },
  { name: 'day of month', min: 1, max: 31, words: /L|W/g },
  { name: 'month', min: 1, max: 12, words: /JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC/g },
  { name: 'day of week', min: 0, max: 7, words: /SUN|MON|TUE|WED|THU|FRI|SAT|L/g },
] as const;

/**
 * Checks each field's numbers against its range and its words, so that a message names the
 * field and the value as the user wrote them (croner's own messages name its internal values: "day: 31"
 * for 32, "(1X)" for JANX). croner checks the rest.
 * @throws ValidationError naming `cron`.
 */
function checkFields(expression: string, parts: string[]): void {
  const fields = parts.length === 6 ? FIELDS : FIELDS.slice(1);
  parts.forEach((text, i) => {
    const f = fields[i];
    if (!f) return;
    for (const item of text.split(',')) {
      // Names the item too when the field lists several: minute "1,70": "70" is out of range.
      const bad = (why: string): never => {
        const where = item === text ? '' : `: "${item}"`;
        throw new ValidationError(
          `cron "${expression}" is not valid: ${f.name} "${text}"${where} ${why}`,
          'cron',
        );
      };
      const [range = '', step, extra] = item.split('/');
      if (extra !== undefined || (step !== undefined && !/^[1-9]\d*$/.test(step)))
        bad('has a step (after /) that is not a whole number from 1');
      const letters = range.toUpperCase().replace(f.words ?? /$^/, '');
      if (!/^[0-9*?#-]*$/.test(letters))
        bad(f.words ? `is not a ${f.name}` : 'may hold only digits and * , - /');
      const bounds = (range.split('#')[0] ?? '').split('-');
      for (const piece of bounds) {
        const m = /^(\d+)[LW]?$/i.exec(piece);
        if (m && (Number(m[1]) < f.min || Number(m[1]) > f.max))
          bad(`is out of range: ${f.name} runs from ${f.min} to ${f.max}`);
      }
      const numeric = bounds.length === 2 && bounds.every((b) => /^\d+$/.test(b));
      if (numeric && Number(bounds[0]) > Number(bounds[1])) bad('has a range that runs backwards');
    }
  });
}

/**
 * Parses a 5-field (minute precision) or 6-field (with seconds) cron expression in a time zone.
 * @throws ValidationError naming `cron` or `timezone`, and the value given.
 */
export function parseCron(expression: string, timezone: string): CronSchedule {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new ValidationError(
      `timezone "${timezone}" is not an IANA time zone such as UTC or Europe/Paris`,
      'timezone',
    );
  }
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    throw new ValidationError(
      `cron must have 5 fields (minute hour day month weekday) or 6 (with seconds first); got ${parts.length}`,
      'cron',
    );
  }
  checkFields(expression, parts);
  let cron: ZonedCron;
  try {
    const pattern = parts.join(' ');
    cron = new ZonedCron(pattern, new Cron(pattern, { timezone, paused: true }), timezone);
  } catch (err) {
    throw new ValidationError(
      `cron "${expression}" is not valid: ${(err as Error).message.replace(/^CronPattern: /, '')}`,
      'cron',
    );
  }
  if (!cron.nextRun(new Date()))
    throw new ValidationError(`cron "${expression}" never fires`, 'cron');
  return cron;
}

/** The next `n` runs after `after`. */
export function nextRuns(cron: CronSchedule, after: Date, n: number): Date[] {
  const runs: Date[] = [];
  for (let t = cron.nextRun(after); t && runs.length < n; t = cron.nextRun(t)) runs.push(t);
  return runs;
}

/**
 * The ticks in [after, upTo] that a schedule with this misfire policy fires now:
 * - skip: only ticks still on time (within {@link ON_TIME_MS});
 * - run_once: the latest missed tick, once;
 * - run_all: every missed tick, the latest `limit` of them.
 */
export function ticksToFire(
  cron: CronSchedule,
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
