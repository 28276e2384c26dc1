import { isTerminal, type Workflow, type WorkflowTask } from '../client/index.js';
import {
  details,
  formatDuration,
  paint,
  relativeTime,
  shortId,
  table,
  useColor,
} from './format.js';
import {
  SPINNER,
  SPINNER_FRAME_MS,
  elapsed,
  progressBar,
  truncateVisible,
} from './format-progress.js';

/** A workflow's task counts in the order of a task's life: "2 succeeded, 1 running, 2 blocked". */
export function countsText(counts: Workflow['counts']): string {
  const order = ['blocked', 'waiting', 'pending', 'running', 'succeeded', 'dead', 'cancelled'];
  const parts = order.filter((s) => (counts as Record<string, number>)[s]);
  return parts.map((s) => `${(counts as Record<string, number>)[s]} ${s}`).join(', ') || 'none';
}

/** How a task is named in its workflow: its key, `on_failure`, or a short id for a child without one. */
export function nodeName(t: WorkflowTask): string {
  if (t.on_failure) return 'on_failure';
  return t.key ?? shortId(t.task_id);
}

/** What a task waits for, in words: its parents' keys, the task that spawned it, or a failure. */
function waitsFor(t: WorkflowTask, byId: Map<string, WorkflowTask>): string {
  if (t.on_failure) return '(runs if a task fails)';
  if (t.parent_task_id) {
    const parent = byId.get(t.parent_task_id);
    return `(child of ${parent ? nodeName(parent) : shortId(t.parent_task_id)})`;
  }
  return t.depends_on.length ? t.depends_on.join(', ') : '-';
}

/** One workflow for people: its fields, a table of its tasks, and the errors of those that failed. */
export function workflowDetails(w: Workflow, color: boolean, maxWidth?: number): string {
  const tasks = w.tasks ?? [];
  const byId = new Map(tasks.map((t) => [t.task_id, t]));
  const head = details([
    ['id', w.id],
    ['name', w.name ?? undefined],
    ['status', paint(w.status, w.status, color)],
    ['tasks', countsText(w.counts)],
    ['created', `${w.created_at} (${relativeTime(w.created_at)})`],
    [
      'cancelled',
      w.cancelled_at ? `${w.cancelled_at} (${relativeTime(w.cancelled_at)})` : undefined,
    ],
    ['idempotency key', w.idempotency_key ?? undefined],
  ]);
  const rows = tasks.map((t) => [
    nodeName(t),
    paint(t.status, t.status, color),
    String(t.attempt),
    waitsFor(t, byId),
    shortId(t.task_id),
    t.command,
  ]);
  const nodes = table(['key', 'status', 'attempts', 'depends on', 'task', 'command'], rows, {
    color,
    align: ['left', 'left', 'right'],
    ...(maxWidth ? { maxWidth } : {}),
  });
  // An on_failure task cancelled as not needed is no error.
  const failed = tasks.filter(
    (t) => t.error && (t.status === 'dead' || (t.status === 'cancelled' && !t.on_failure)),
  );
  const errors = failed.length
    ? `errors\n${failed.map((t) => `  ${nodeName(t)}: ${t.error}`).join('\n')}\n`
    : '';
  return `${head}\n${nodes}${errors ? `\n${errors}` : ''}`;
}

/** The line a task's change makes in a watch: `load running (attempt 1)`, `fetch dead: boom`. */
export function nodeLine(t: WorkflowTask, color: boolean): string {
  const status = paint(t.status, t.status, color);
  if (t.status === 'running') return `${nodeName(t)} ${status} (attempt ${t.attempt})`;
  if ((t.status === 'dead' || t.status === 'cancelled') && t.error)
    return `${nodeName(t)} ${status}: ${t.error}`;
  return `${nodeName(t)} ${status}`;
}

/** How long a workflow took: from its creation to its last task's last change. */
function tookMs(w: Workflow): number {
  const last = Math.max(
    Date.parse(w.cancelled_at ?? w.created_at),
    ...(w.tasks ?? []).map((t) => Date.parse(t.updated_at)),
  );
  return last - Date.parse(w.created_at);
}

/** The last words on a workflow that ended: how, after how long, and what failed. */
export function workflowOutcome(w: Workflow, color: boolean): string {
  const head = paint(w.status, w.status, color);
  const took = formatDuration(tookMs(w));
  if (w.status === 'succeeded') return `${head} in ${took} (${countsText(w.counts)})\n`;
  if (w.status === 'cancelled') return `${head} after ${took} (${countsText(w.counts)})\n`;
  const failed = (w.tasks ?? []).filter(
    (t) => !t.on_failure && (t.status === 'dead' || t.status === 'cancelled'),
  );
  const first = failed.find((t) => t.status === 'dead') ?? failed[0];
  const why = first
    ? `: ${nodeName(first)} ${first.status}${first.error ? ` (${first.error})` : ''}`
    : '';
  const onFailure = (w.tasks ?? []).find((t) => t.on_failure);
  const ran =
    onFailure && onFailure.status !== 'cancelled' ? `; on_failure ${onFailure.status}` : '';
  return `${head} after ${took} (${countsText(w.counts)})${why}${ran}\n`;
}

/**
 * Shows a workflow live while it runs. Each task's change of status is a line of its own
 * (`extract running (attempt 1)`, `load succeeded`), printed as it happens. On a terminal, a
 * status line under them is redrawn in place: a spinner, a bar of the tasks that have ended,
 * the counts and the time so far. Elsewhere (a pipe, a file, CI) there are only the lines.
 */
export class WorkflowProgressView {
  private readonly tty: boolean;
  private readonly color: boolean;
  private readonly seen = new Map<string, string>();
  private workflow: Workflow | undefined;
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();

  constructor(private readonly out: NodeJS.WriteStream) {
    this.tty = Boolean(out.isTTY);
    this.color = useColor(out);
  }

  /** A new state of the workflow: prints the tasks that changed, redraws the status line. */
  update(w: Workflow): void {
    const lines: string[] = [];
    if (!this.workflow) lines.push(`workflow ${workflowLine(w)}`);
    for (const t of w.tasks ?? []) {
      const state = `${t.status}:${t.attempt}`;
      if (this.seen.get(t.task_id) === state) continue;
      // Blocked is where a dependent starts: not news until it moves.
      const isNew = !this.seen.has(t.task_id);
      this.seen.set(t.task_id, state);
      if (isNew && t.status === 'blocked') continue;
      lines.push(nodeLine(t, this.color));
    }
    this.workflow = w;
    if (this.tty) this.out.write('\r\x1b[2K');
    if (lines.length) this.out.write(`${lines.join('\n')}\n`);
    if (!this.tty || isTerminalWorkflow(w)) return;
    this.timer ??= setInterval(() => {
      this.frame++;
      this.draw();
    }, SPINNER_FRAME_MS);
    this.draw();
  }

  /** Stops redrawing and leaves the cursor on a fresh line. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) this.out.write('\r\x1b[2K');
  }

  private draw(): void {
    const w = this.workflow;
    if (!w) return;
    const tasks = (w.tasks ?? []).filter((t) => !t.on_failure);
    const ended = tasks.filter((t) => isTerminal(t.status)).length;
    const line = [
      SPINNER[this.frame % SPINNER.length] ?? '-',
      paint(w.status, w.status, this.color),
      progressBar(tasks.length ? (ended / tasks.length) * 100 : 0),
      `${ended}/${tasks.length} ended`,
      `· ${countsText(w.counts)} · ${elapsed(Date.now() - this.startedAt)}`,
    ].join('  ');
    this.out.write(`\r\x1b[2K${truncateVisible(line, (this.out.columns || 80) - 1)}`);
  }
}

/** Whether a workflow has ended (anything but running). */
export function isTerminalWorkflow(w: Workflow): boolean {
  return w.status !== 'running';
}

/** A workflow list's rows for people. */
export function workflowsTable(items: Workflow[], color: boolean, maxWidth?: number): string {
  const rows = items.map((w) => [
    shortId(w.id),
    paint(w.status, w.status, color),
    relativeTime(w.created_at),
    countsText(w.counts),
    w.name ?? '-',
  ]);
  return table(['id', 'status', 'created', 'tasks', 'name'], rows, {
    color,
    ...(maxWidth ? { maxWidth } : {}),
  });
}

/** One line on a workflow: `01a2… (nightly etl): running, 3 tasks (1 blocked, 2 pending)`. */
export function workflowLine(w: Workflow): string {
  const n = Object.values(w.counts).reduce((sum, c) => sum + (c ?? 0), 0);
  return `${w.id}${w.name ? ` (${w.name})` : ''}: ${w.status}, ${n} task${n === 1 ? '' : 's'} (${countsText(w.counts)})`;
}
