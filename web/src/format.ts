/** Formatting of times (always with their zone), durations, counts and JSON. */

/** "850 ms", "1.2 s", "3 min 4 s", "2 h 5 min", "3 d 4 h". */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (abs < 60_000) return `${Math.round(ms / 1000)} s`;
  const s = Math.round(abs / 1000);
  const sign = ms < 0 ? '-' : '';
  const two = (a: number, ua: string, b: number, ub: string): string =>
    `${sign}${a} ${ua}${b ? ` ${b} ${ub}` : ''}`;
  if (s < 3600) return two(Math.floor(s / 60), 'min', s % 60, 's');
  if (s < 86_400) return two(Math.floor(s / 3600), 'h', Math.floor((s % 3600) / 60), 'min');
  return two(Math.floor(s / 86_400), 'd', Math.floor((s % 86_400) / 3600), 'h');
}

/** "12 s ago", "in 3 min", "just now". */
export function relative(iso: string | null | undefined, now: number): string {
  if (!iso) return '—';
  const diff = Date.parse(iso) - now;
  if (Math.abs(diff) < 1500) return 'just now';
  const d = duration(Math.abs(diff)).replace(/ \d+ (s|min|h)$/, '');
  return diff < 0 ? `${d} ago` : `in ${d}`;
}

/** The browser's IANA time zone, e.g. "Europe/Paris". */
export const LOCAL_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** Wall-clock fields of an instant, in a zone (IANA) or the browser's. */
interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Minutes east of UTC at that instant. */
  offset: number;
}

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

function wallClock(ms: number, zone?: string): WallClock {
  if (!zone || zone === LOCAL_ZONE) {
    const d = new Date(ms);
    return {
      year: d.getFullYear(),
      month: d.getMonth() + 1,
      day: d.getDate(),
      hour: d.getHours(),
      minute: d.getMinutes(),
      second: d.getSeconds(),
      offset: -d.getTimezoneOffset(),
    };
  }
  let f = zoneFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    zoneFormats.set(zone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(ms))) p[part.type] = Number(part.value);
  const w = {
    year: p.year ?? 0,
    month: p.month ?? 1,
    day: p.day ?? 1,
    hour: p.hour ?? 0,
    minute: p.minute ?? 0,
    second: p.second ?? 0,
  };
  // The offset is what the wall clock reads minus the instant, whole seconds only.
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return { ...w, offset: Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60_000) };
}

const pad = (n: number, w = 2): string => String(Math.abs(n)).padStart(w, '0');

/** "UTC", "UTC+1", "UTC+5:30", "UTC-3": an offset in minutes east of UTC. */
export function offsetLabel(minutes: number): string {
  if (minutes === 0) return 'UTC';
  const sign = minutes > 0 ? '+' : '-';
  const h = Math.floor(Math.abs(minutes) / 60);
  const m = Math.abs(minutes) % 60;
  return `UTC${sign}${h}${m ? `:${pad(m)}` : ''}`;
}

/** The offset of a zone (the browser's by default) at an instant: "UTC+1". */
export function zoneLabel(iso: string | number, zone?: string): string {
  const ms = typeof iso === 'number' ? iso : Date.parse(iso);
  return offsetLabel(wallClock(ms, zone).offset);
}

function format(
  ms: number,
  zone: string | undefined,
  opts: { ms?: boolean; date?: boolean },
): string {
  const w = wallClock(ms, zone);
  const date = `${w.year}-${pad(w.month)}-${pad(w.day)} `;
  const time = `${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
  const fraction = opts.ms ? `.${pad(((ms % 1000) + 1000) % 1000, 3)}` : '';
  return `${opts.date === false ? '' : date}${time}${fraction} ${offsetLabel(w.offset)}`;
}

/**
 * Date and time to the second (milliseconds when asked) in the browser's zone, labelled with
 * its offset: "2031-03-01 14:03:05 UTC+1".
 */
export function timestamp(iso: string | null | undefined, ms = false): string {
  if (!iso) return '—';
  return format(Date.parse(iso), undefined, { ms });
}

/** The same in a given IANA zone: "2031-03-01 02:30:00 UTC+1". */
export function timestampIn(iso: string, zone: string): string {
  return format(Date.parse(iso), zone, {});
}

/** A time of day, labelled with the browser's offset: "14:03:05 UTC+1". */
export function clockTime(ms: number): string {
  return format(ms, undefined, { date: false });
}

/** What a time's tooltip says: the local time with its zone, and UTC. */
export function timeTitle(iso: string): string {
  const ms = Date.parse(iso);
  return `${format(ms, undefined, { ms: true })} (${LOCAL_ZONE})\n${format(ms, 'UTC', { ms: true })}`;
}

/**
 * The value of a datetime-local input (local wall clock, no zone) as an instant in RFC 3339,
 * or null when it is empty or not a time.
 */
export function fromLocalInput(value: string): string | null {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** An instant as a datetime-local input's value, in the browser's zone. */
export function toLocalInput(ms: number): string {
  const w = wallClock(ms);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}`;
}

/**
 * An id shortened for tables: its last 8 characters (ids are uuid v7, whose first
 * characters are a timestamp shared by everything created at about the same time).
 * The full id is in the cell's title.
 */
export function shortId(id: string): string {
  return id.length > 12 ? `…${id.slice(-8)}` : id;
}

/** 1234 → "1,234"; 0.25 → "0.25". */
export function count(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return n < 10 ? n.toFixed(2) : n.toFixed(1);
}

/** Pretty JSON for payloads and results. */
export function json(v: unknown): string {
  if (v === undefined) return '';
  return JSON.stringify(v, null, 2);
}

/** Why `text` is not JSON, with the line and column when the parser says where; null if it is. */
export function jsonError(text: string): string | null {
  if (!text.trim()) return null;
  try {
    JSON.parse(text);
    return null;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const at = /position (\d+)/.exec(message);
    if (!at) return `not valid JSON: ${message}`;
    const before = text.slice(0, Number(at[1]));
    const line = before.split('\n').length;
    const column = before.length - before.lastIndexOf('\n');
    return `not valid JSON at line ${line}, column ${column}: ${message.replace(/ in JSON at position \d+.*$/, '')}`;
  }
}

const PERIOD_UNITS: Array<[number, string, string]> = [
  [86_400_000, 'day', 'd'],
  [3_600_000, 'hour', 'h'],
  [60_000, 'minute', 'min'],
  [1000, 'second', 's'],
];

/** A rate limit in words: "10 per second", "2 per 5 min", "5 per 500 ms". */
export function rate(r: { count: number; period_ms: number }): string {
  for (const [size, one, short] of PERIOD_UNITS) {
    if (r.period_ms % size !== 0) continue;
    const n = r.period_ms / size;
    return `${count(r.count)} per ${n === 1 ? one : `${count(n)} ${short}`}`;
  }
  return `${count(r.count)} per ${count(r.period_ms)} ms`;
}

/** Group weights as `name=weight` pairs by name ("free=1, gold=3"), the form the settings take. */
export function weights(w: Record<string, number> | null): string {
  return Object.entries(w ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([g, n]) => `${g}=${n}`)
    .join(', ');
}
