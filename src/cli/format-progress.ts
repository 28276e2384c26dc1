import { isTerminal, type Task, type TaskProgress } from '../client/index.js';
import { compactJson, formatDuration, paint, truncate, useColor } from './format.js';

/** The frames of the spinner of a live line, one every {@link SPINNER_FRAME_MS}. */
export const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
export const SPINNER_FRAME_MS = 100;
const BAR_WIDTH = 24;

/** A bar of `width` cells, `percent` of them filled. */
export function progressBar(percent: number, width = BAR_WIDTH): string {
  const p = Math.min(100, Math.max(0, percent));
  const filled = Math.round((p / 100) * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

/**
 * Shows one task's live state while it runs. On a terminal: a single line redrawn in place,
 * with a spinner, a progress bar once the handler reports progress, the status, the
 * progress message and the time so far. Elsewhere (a pipe, a file, CI): a plain line for each
 * change of status, percent or message, and nothing that redraws.
 */
export class TaskProgressView {
  private readonly tty: boolean;
  private readonly color: boolean;
  private task: Task | undefined;
  private percent: number | undefined;
  private message = '';
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastPlain = '';
  private readonly startedAt = Date.now();

  constructor(private readonly out: NodeJS.WriteStream) {
    this.tty = Boolean(out.isTTY);
    this.color = useColor(out);
  }

  /** A new state of the task. */
  update(task: Task): void {
    if (this.task && task.attempt !== this.task.attempt) {
      this.percent = undefined;
      this.message = '';
    }
    this.task = task;
    // The stored progress shows where a task already running stands; after that, progress
    // events are newer than what a later status change carries.
    if (task.progress && this.percent === undefined) {
      this.percent = task.progress.percent;
      this.message = task.progress.message;
    }
    this.render();
  }

  /** A progress report from the handler. Reports of an older attempt are ignored. */
  progress(p: TaskProgress): void {
    if (this.task && p.attempt < this.task.attempt) return;
    this.percent = p.percent;
    this.message = p.message;
    this.render();
  }

  /** Stops redrawing and leaves the cursor on a fresh line. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) this.out.write('\r\x1b[2K');
  }

  private render(): void {
    const t = this.task;
    if (!t) return;
    if (!this.tty) {
      if (isTerminal(t.status)) return; // the caller prints the outcome
      const line = this.plainLine(t);
      if (line !== this.lastPlain) this.out.write(`${line}\n`);
      this.lastPlain = line;
      return;
    }
    this.timer ??= setInterval(() => {
      this.frame++;
      this.draw();
    }, SPINNER_FRAME_MS);
    this.draw();
  }

  private draw(): void {
    const t = this.task;
    if (!t) return;
    const parts = [
      SPINNER[this.frame % SPINNER.length] ?? '-',
      paint(t.status, t.status, this.color),
    ];
    if (this.percent !== undefined)
      parts.push(progressBar(this.percent), `${Math.round(this.percent)}%`.padStart(4));
    if (this.message) parts.push(this.message);
    else if (t.status === 'pending' && t.waiting_for) parts.push(`(${t.waiting_for})`);
    parts.push(`· ${attemptText(t)} · ${elapsed(Date.now() - this.startedAt)}`);
    const width = (this.out.columns || 80) - 1;
    this.out.write(`\r\x1b[2K${truncateVisible(parts.join('  '), width)}`);
  }

  private plainLine(t: Task): string {
    const parts: string[] = [t.status];
    if (t.status === 'running') parts.push(`(${attemptText(t)})`);
    if (t.status === 'pending' && t.waiting_for) parts.push(`(${t.waiting_for})`);
    if (this.percent !== undefined && t.status === 'running')
      parts.push(`${Math.round(this.percent)}%`);
    if (this.message && t.status === 'running') parts.push(this.message);
    return parts.join(' ');
  }
}

/** Time so far, steady in width: 0.4s, 12.3s, then 2m5s. */
export function elapsed(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : formatDuration(ms);
}

function attemptText(t: Task): string {
  return `attempt ${Math.max(1, t.attempt)} of ${t.max_attempts}`;
}

/** Cuts a line that may hold colour codes: drops them first when it is too long. */
export function truncateVisible(line: string, width: number): string {
  // eslint-disable-next-line no-control-regex
  const plain = line.replace(/\x1b\[[0-9;]*m/g, '');
  return [...plain].length <= width ? line : truncate(plain, width);
}

/** The last words on a finished task: how it ended, after how long, and its result or error. */
export function outcomeText(t: Task, color: boolean): string {
  const end = t.completed_at ?? t.failed_at ?? t.cancelled_at ?? t.updated_at;
  const took = formatDuration(Date.parse(end) - Date.parse(t.created_at));
  const head = paint(t.status, t.status, color);
  if (t.status === 'succeeded') {
    const result =
      t.result === null || t.result === undefined ? '' : `\nresult: ${compactJson(t.result, 500)}`;
    return `${head} in ${took} (${attemptText(t)})${result}\n`;
  }
  if (t.status === 'dead')
    return `${head} after ${t.attempt} attempt${t.attempt === 1 ? '' : 's'} (${took})${t.error ? `: ${t.error}` : ''}\n`;
  if (t.status === 'cancelled') return `${head} after ${took}\n`;
  return `${head}\n`;
}
