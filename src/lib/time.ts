import { ValidationError } from './errors.js';

/** Resolves after `ms`, or early (without error) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses `250`, `250ms`, `5s`, `2m`, `1h` or `7d` into milliseconds.
 * @throws ValidationError naming `field` when the text is not a duration.
 */
export function parseDuration(text: string | number, field: string): number {
  if (typeof text === 'number') return text;
  const m = DURATION.exec(text.trim());
  if (!m)
    throw new ValidationError(
      `${field} must be a duration like 500ms, 5s, 2m or 7d (got "${text}")`,
      field,
    );
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1));
}

/**
 * The earliest and latest instants a task may be scheduled at. Anything outside is a typo
 * (year 0, year 300000, seconds taken for milliseconds) rather than intent.
 */
export const TIMESTAMP_MIN = Date.UTC(1970, 0, 1);
export const TIMESTAMP_MAX = Date.UTC(2200, 0, 1);

// RFC 3339: date, 'T' (or space), time with optional fraction, and a Z or ±hh:mm offset.
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Parses an RFC 3339 timestamp with any offset into a Date (UTC instant, ms precision).
 * @throws ValidationError naming `field` for any other format or an out-of-window instant.
 */
export function parseTimestamp(text: string, field: string): Date {
  const m = RFC3339.exec(text);
  if (!m) {
    throw new ValidationError(
      `${field} must be an RFC 3339 timestamp such as 2023-04-01T15:04:05Z or 2023-12-24T22:34:00+05:30 (got "${truncate(text, 64)}")`,
      field,
    );
  }
  const [, y, mo, d, h, mi, s] = m.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 60) {
    throw new ValidationError(
      `${field} is not a real date or time (got "${truncate(text, 64)}")`,
      field,
    );
  }
  const ms = Date.parse(text.replace(' ', 'T'));
  if (Number.isNaN(ms)) {
    throw new ValidationError(
      `${field} is not a valid timestamp (got "${truncate(text, 64)}")`,
      field,
    );
  }
  if (ms < TIMESTAMP_MIN || ms >= TIMESTAMP_MAX) {
    throw new ValidationError(
      `${field} must be between 1970 and 2200 (got "${truncate(text, 64)}")`,
      field,
    );
  }
  return new Date(ms);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
