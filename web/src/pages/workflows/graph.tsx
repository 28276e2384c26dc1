/**
 * A workflow's graph as SVG: tasks as boxes filled with their status's colour, arrows from
 * parent to child, a handler's children framed under it, the on_failure task apart. Each task
 * is a link to its page; a folded group sums up its tasks and, when small enough, opens.
 */
import { useMemo, useState, type KeyboardEvent, type MouseEvent, type ReactNode } from 'react';
import { STATUS_COLORS } from '../../charts';
import { count } from '../../format';
import { href, navigate } from '../../router';
import { TASK_STATUSES, type WorkflowTask } from '../../types';
import { countsText, nodeName, taskPath } from './text';
import {
  GROUP_HEADER,
  GROUP_PAD,
  MAX_DRAWN,
  countStatuses,
  layoutWorkflow,
  type GroupBox,
  type TaskBox,
} from './layout';

/** Dark text on light fills (amber), white on the others. */
function textOn(hex: string): string {
  const n = parseInt(hex.slice(1), 16);
  const lum = (0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
  return lum > 0.6 ? '#1f2328' : '#fff';
}

/** Cuts a label to what fits in `px` at about 7 px a character. */
function fit(text: string, px: number): string {
  const max = Math.max(4, Math.floor(px / 7));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function WorkflowGraph(props: { tasks: readonly WorkflowTask[] }): ReactNode {
  const { tasks } = props;
  const [opened, setOpened] = useState<ReadonlySet<string>>(new Set());
  const layout = useMemo(() => layoutWorkflow(tasks, opened), [tasks, opened]);
  const toggle = (id: string): void =>
    setOpened((cur) => {
      const next = new Set(cur);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const drawn = (b: TaskBox): ReactNode => <TaskNode key={b.id} box={b} />;

  return (
    <>
      {layout.folded > 0 ? (
        <p className="hint graph-note">
          {count(tasks.length)} tasks: {count(layout.folded)} of them are summed up in groups (tasks
          with the same parents and dependents, a handler&apos;s many children) so that at most
          about {MAX_DRAWN} boxes are drawn. Every task is in the table below.
        </p>
      ) : null}
      <div className="graph-scroll">
        <svg
          className="workflow-graph"
          width={layout.width}
          height={layout.height}
          viewBox={`0 0 ${layout.width} ${layout.height}`}
          role="group"
          aria-label={`Graph of ${tasks.length} tasks`}
        >
          <defs>
            <marker
              id="arrow"
              viewBox="0 0 10 10"
              refX="10"
              refY="5"
              markerWidth="7"
              markerHeight="7"
              orient="auto-start-reverse"
            >
              <path d="M0,0 L10,5 L0,10 z" className="arrow-head" />
            </marker>
          </defs>
          {layout.edges.map((e) => (
            <path
              key={e.id}
              d={e.d}
              className={`edge ${e.spawn ? 'spawn' : ''}`}
              markerEnd="url(#arrow)"
            />
          ))}
          {[...layout.boxes, ...layout.apart].map((b) =>
            b.kind === 'task' ? (
              drawn(b)
            ) : (
              <Group key={b.id} box={b} onToggle={() => toggle(b.id)}>
                {b.shown?.map(drawn)}
              </Group>
            ),
          )}
          {layout.apartX !== null ? (
            <g className="apart">
              <line x1={layout.apartX} x2={layout.apartX} y1={8} y2={layout.height - 8} />
              <text x={layout.apartX + 8} y={26}>
                runs only if a task fails
              </text>
            </g>
          ) : null}
        </svg>
      </div>
    </>
  );
}

/** One task: a box in its status's colour, a link to the task's page. */
function TaskNode(props: { box: TaskBox }): ReactNode {
  const { box } = props;
  const t = box.task;
  const fill = STATUS_COLORS[t.status];
  const ink = textOn(fill);
  const to = taskPath(t);
  const name = nodeName(t);
  const open = (e: MouseEvent): void => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a
      href={href(to)}
      onClick={open}
      className={`node status-${t.status} ${t.on_failure ? 'on-failure' : ''}`}
      data-task-id={t.task_id}
      data-key={t.key ?? ''}
      data-status={t.status}
      aria-label={`${name}: ${t.status}`}
    >
      <title>
        {`${name}: ${t.status}${t.attempt > 0 ? `, attempt ${t.attempt}` : ''}\n${t.command} on ${t.queue}${t.error ? `\n${t.error}` : ''}`}
      </title>
      <rect x={box.x} y={box.y} width={box.w} height={box.h} rx={6} style={{ fill }} />
      <text x={box.x + 10} y={box.y + 18} className="node-key" style={{ fill: ink }}>
        {fit(name, box.w - 20)}
      </text>
      <text x={box.x + 10} y={box.y + 35} className="node-sub" style={{ fill: ink }}>
        {fit(`${t.status} · ${t.command}`, box.w - 20)}
      </text>
    </a>
  );
}

const GROUP_TITLES: Record<GroupBox['reason'], (b: GroupBox) => string> = {
  children: (b) =>
    `${count(b.members.length)} ${b.members.length === 1 ? 'child' : 'children'}${b.parent ? ` of ${nodeName(b.parent)}` : ''}`,
  alike: (b) => {
    const keys = b.members.map(nodeName);
    return `${count(keys.length)} tasks ${keys[0]} … ${keys.at(-1)}`;
  },
  more: (b) => `${count(b.members.length)} more tasks`,
};

/** Several tasks in one frame: one by one inside it, or summed up with a bar of their statuses. */
function Group(props: { box: GroupBox; onToggle: () => void; children: ReactNode }): ReactNode {
  const b = props.box;
  const title = GROUP_TITLES[b.reason](b);
  const summary = countsText(b.counts);
  const total = b.members.length;
  const key = (e: KeyboardEvent): void => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      props.onToggle();
    }
  };
  let bx = b.x + GROUP_PAD;
  const barW = b.w - 2 * GROUP_PAD;
  return (
    <g
      className={`group group-${b.reason} ${b.shown ? 'open' : 'folded'}`}
      data-group={b.reason}
      data-count={total}
      aria-label={`${title}: ${summary}`}
    >
      <title>{`${title}: ${summary}`}</title>
      <rect className="frame" x={b.x} y={b.y} width={b.w} height={b.h} rx={8} />
      <text x={b.x + GROUP_PAD} y={b.y + 17} className="group-title">
        {fit(title, b.w - 2 * GROUP_PAD - (b.openable ? 40 : 0))}
      </text>
      {b.openable ? (
        <text
          x={b.x + b.w - GROUP_PAD}
          y={b.y + 17}
          textAnchor="end"
          className="group-toggle"
          role="button"
          tabIndex={0}
          aria-label={b.shown ? `Fold ${title}` : `Show ${title} one by one`}
          onClick={props.onToggle}
          onKeyDown={key}
        >
          {b.shown ? 'fold' : 'show'}
        </text>
      ) : null}
      {b.shown ? (
        props.children
      ) : (
        <>
          <text x={b.x + GROUP_PAD} y={b.y + GROUP_HEADER + 12} className="group-summary">
            {fit(summary, barW)}
          </text>
          {TASK_STATUSES.map((s) => {
            const w = ((b.counts[s] ?? 0) / total) * barW;
            const r =
              w > 0 ? (
                <rect
                  key={s}
                  x={bx}
                  y={b.y + b.h - 20}
                  width={w}
                  height={10}
                  style={{ fill: STATUS_COLORS[s] }}
                />
              ) : null;
            bx += w;
            return r;
          })}
        </>
      )}
    </g>
  );
}

/** The colours of the statuses, with how many tasks of the graph are in each. */
export function GraphLegend(props: { tasks: readonly WorkflowTask[] }): ReactNode {
  const counts = countStatuses(props.tasks);
  return (
    <ul className="graph-legend" aria-label="Status colours">
      {TASK_STATUSES.map((s) => (
        <li key={s} data-status={s} className={counts[s] ? '' : 'none'}>
          <i style={{ background: STATUS_COLORS[s] }} />
          {s} <span className="muted">{count(counts[s] ?? 0)}</span>
        </li>
      ))}
    </ul>
  );
}
