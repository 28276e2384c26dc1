/** Formatting of times, durations and counts for the tables and charts. */

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

/** Local date and time to the second, with milliseconds when asked. */
export function timestamp(iso: string | null | undefined, ms = false): string {
  if (!iso) return '—';
  const d = new Date(iso);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${date} ${time}${ms ? `.${pad(d.getMilliseconds(), 3)}` : ''}`;
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
