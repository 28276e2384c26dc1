/**
 * Text for people: aligned tables, relative ages, short ids and status colours. No
 * dependencies; colours only on a terminal, and never with NO_COLOR set.
 */

/** Whether `stream` is a terminal that takes colours. */
export function useColor(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

const STATUS_COLOR: Record<string, number> = {
  succeeded: 32, // green
  running: 36, // cyan
  pending: 33, // yellow
  dead: 31, // red
  cancelled: 35, // magenta
  blocked: 33, // workflow states: waiting for parents (as pending), for children (as running)
  waiting: 36,
  failed: 31, // a workflow one of whose tasks ended dead or cancelled
  live: 32,
  silent: 33,
  disconnected: 31,
  paused: 33,
};

/** `text` in the colour of `status` (when `color`), e.g. succeeded in green. */
export function paint(status: string, text: string, color: boolean): string {
  const code = STATUS_COLOR[status];
  return color && code ? `\x1b[${code}m${text}\x1b[39m` : text;
}

/** Bold (when `color`). */
export function bold(text: string, color: boolean): string {
  return color ? `\x1b[1m${text}\x1b[22m` : text;
}

/** The visible width of `text`: escape codes take no room. */
export function visibleWidth(text: string): number {
  // eslint-disable-next-line no-control-regex
  return [...text.replace(/\x1b\[[0-9;]*m/g, '')].length;
}

/** `text` cut to `width` characters, ending in an ellipsis when cut. */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  return width <= 1 ? chars.slice(0, width).join('') : `${chars.slice(0, width - 1).join('')}…`;
}

/**
 * The short form of an id for tables: its last 8 characters. Task ids are uuid v7, whose
 * first characters are a timestamp shared by every task of the same minute; the end is random.
 * The task commands accept this form back.
 */
export function shortId(id: string): string {
  return id.length > 8 ? `…${id.slice(-8)}` : id;
}

/** A duration in ms as people read it: 250ms, 1.5s, 42s, 5m, 5m30s, 2h10m, 3d. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = ms / 1000;
  if (s < 10) return `${(Math.floor(s * 10) / 10).toString()}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 >= 1 ? `${m}m${Math.floor(s % 60)}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** An instant relative to `now`: "3s ago", "5m ago", "in 2h"; "now" within a second. */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const diff = now - at;
  if (Math.abs(diff) < 1000) return 'now';
  const coarse = (ms: number): string => {
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m`;
    if (s < 86_400) return `${Math.floor(s / 3600)}h`;
    if (s < 365 * 86_400) return `${Math.floor(s / 86_400)}d`;
    return `${Math.floor(s / (365 * 86_400))}y`;
  };
  return diff > 0 ? `${coarse(diff)} ago` : `in ${coarse(-diff)}`;
}

/** A column's alignment. */
export type Align = 'left' | 'right';

/**
 * An aligned table: a header row, then one row per item, columns two spaces apart. The last
 * column is cut to `maxWidth` (the terminal's width) when one is given. Cells may carry
 * colour codes; alignment counts only what is visible.
 */
export function table(
  headers: string[],
  rows: string[][],
  opts: { align?: Align[]; maxWidth?: number; color?: boolean } = {},
): string {
  const widths = headers.map((h, i) =>
    Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[i] ?? ''))),
  );
  const last = headers.length - 1;
  const render = (cells: string[]): string => {
    const parts = cells.map((cell, i) => {
      if (i === last) return cell;
      const pad = ' '.repeat((widths[i] ?? 0) - visibleWidth(cell));
      return opts.align?.[i] === 'right' ? pad + cell : cell + pad;
    });
    let line = parts.join('  ');
    if (opts.maxWidth && visibleWidth(line) > opts.maxWidth) {
      const lead = visibleWidth(parts.slice(0, last).join('  ')) + 2;
      line = `${parts.slice(0, last).join('  ')}  ${truncate(cells[last] ?? '', Math.max(8, opts.maxWidth - lead))}`;
    }
    return line.trimEnd();
  };
  const head = render(headers.map((h) => h.toUpperCase()));
  return [opts.color ? bold(head, true) : head, ...rows.map(render)].join('\n') + '\n';
}

/** Key-value lines, keys aligned: for one record. Rows with an undefined value are left out. */
export function details(rows: Array<[string, string | undefined]>): string {
  const shown = rows.filter((r): r is [string, string] => r[1] !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}

/** A JSON value on one line, cut to `width` characters. */
export function compactJson(value: unknown, width = 200): string {
  return truncate(JSON.stringify(value) ?? 'null', width);
}
