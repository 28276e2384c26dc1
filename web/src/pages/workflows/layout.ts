/**
 * Where each box of a workflow graph goes: layers by depth, left to right, parents before
 * children. Children a handler spawned are one group under their parent; the on_failure task
 * stands apart, in a column of its own. A large graph is folded so that at most about
 * {@link MAX_DRAWN} boxes are drawn: tasks with the same parents and the same dependents
 * become one group, and a layer that is still too tall folds its last boxes into one.
 */
import type { TaskStatus, WorkflowTask } from '../../types';
import {
  assignLayers,
  foldAlike,
  foldTallLayers,
  orderLayers,
  push,
  unit,
  type Unit,
} from './units';

/** Most boxes drawn for one graph; beyond it, alike tasks are folded into groups. */
export const MAX_DRAWN = 200;
/** A handler's children are drawn one by one up to this many; more are a summary box. */
export const CHILDREN_SHOWN_MAX = 8;
/** Most tasks a folded group may be opened to show one by one. */
export const OPEN_GROUP_MAX = 100;

export const NODE_W = 180;
export const NODE_H = 44;
const COL_GAP = 72;
const ROW_GAP = 14;
const MARGIN = 16;
/** A group's title bar, and its padding around the tasks it shows. */
export const GROUP_HEADER = 26;
export const GROUP_PAD = 8;
const MEMBER_GAP = 6;
/** A folded group: wide enough for "1,000 children of invoice-run" and its counts. */
const SUMMARY_W = 240;
const SUMMARY_H = 70;
/** Room above the apart column for the line that says what it is. */
const APART_LABEL_H = 22;

export type Counts = Partial<Record<TaskStatus, number>>;

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One task drawn on its own. */
export interface TaskBox extends Rect {
  kind: 'task';
  id: string;
  task: WorkflowTask;
}

/** Several tasks drawn as one box. */
export interface GroupBox extends Rect {
  kind: 'group';
  id: string;
  /**
   * `children`: spawned by one task; `alike`: the same parents and dependents; `more`: the
   * rest of a layer too tall to draw.
   */
  reason: 'children' | 'alike' | 'more';
  /** For `children`: the task that spawned them. */
  parent: WorkflowTask | null;
  members: WorkflowTask[];
  counts: Counts;
  /** Drawn one by one inside the group's frame (small groups, or opened by the user). */
  shown: TaskBox[] | null;
  /** Whether the user may open (or fold again) this group. */
  openable: boolean;
}

export type Box = TaskBox | GroupBox;

export interface EdgeLine {
  id: string;
  /** An SVG path from the parent's right side to the child's left side. */
  d: string;
  /** From a task to the children it spawned. */
  spawn: boolean;
}

export interface GraphLayout {
  boxes: Box[];
  edges: EdgeLine[];
  /** The on_failure task (and anything it spawned), apart from the graph. */
  apart: Box[];
  /** The x of the line that sets the apart column off; null when there is none. */
  apartX: number | null;
  width: number;
  height: number;
  /** Tasks drawn inside a folded group rather than on their own. */
  folded: number;
}

/** Counts by status. */
export function countStatuses(tasks: readonly WorkflowTask[]): Counts {
  const counts: Counts = {};
  for (const t of tasks) counts[t.status] = (counts[t.status] ?? 0) + 1;
  return counts;
}

/**
 * Lays out a workflow's graph. `opened` holds ids of groups the user chose to see one by one
 * (only groups of at most {@link OPEN_GROUP_MAX} tasks open).
 */
export function layoutWorkflow(
  tasks: readonly WorkflowTask[],
  opened: ReadonlySet<string> = new Set(),
): GraphLayout {
  const index = new Map(tasks.map((t, i) => [t.task_id, i]));
  const byKey = new Map<string, WorkflowTask>();
  for (const t of tasks) if (t.key !== null && !t.parent_task_id) byKey.set(t.key, t);
  const failureTask = tasks.find((t) => t.on_failure) ?? null;

  // One unit per task of the submitted graph, one per set of children of one task.
  const units = new Map<string, Unit>();
  const unitOf = new Map<string, Unit>();
  const add = (u: Unit): void => {
    units.set(u.id, u);
    for (const m of u.members) unitOf.set(m.task_id, u);
  };
  const childrenOf = new Map<string, WorkflowTask[]>();
  for (const t of tasks) {
    if (t.parent_task_id) push(childrenOf, t.parent_task_id, t);
    else if (!t.on_failure) {
      const sources = new Set<string>();
      for (const k of t.depends_on) {
        const p = byKey.get(k);
        if (p) sources.add(p.task_id);
      }
      add(unit(`t:${t.task_id}`, 'task', [t], null, sources, index));
    }
  }
  const byId = new Map(tasks.map((t) => [t.task_id, t]));
  for (const [parentId, kids] of childrenOf) {
    const parent = byId.get(parentId) ?? null;
    add(unit(`g:${parentId}`, 'children', kids, parent, new Set([parentId]), index));
  }

  const drawnCount = (): number =>
    [...units.values()].reduce(
      (n, u) => n + (u.reason !== 'task' && shownOneByOne(u, opened, false) ? u.members.length : 1),
      0,
    );
  if (drawnCount() > MAX_DRAWN) foldAlike(units, index, add);
  assignLayers(units, unitOf);
  if (drawnCount() > MAX_DRAWN) foldTallLayers(units, index, add, MAX_DRAWN);
  // Still too many: small groups of children are summed up too.
  const crowded = drawnCount() > MAX_DRAWN;

  // Apart: the on_failure task, and any children it spawned.
  const apartUnits: Unit[] = [];
  if (failureTask) {
    const u = unit(`t:${failureTask.task_id}`, 'task', [failureTask], null, new Set(), index);
    unitOf.set(failureTask.task_id, u);
    apartUnits.push(u);
    for (const g of [...units.values()]) {
      if (g.parent?.task_id === failureTask.task_id) {
        units.delete(g.id);
        apartUnits.push(g);
      }
    }
  }

  const layers = orderLayers(units, unitOf);
  const place = new Placement(opened, crowded);
  let x = MARGIN;
  const columns = layers.map((col) => {
    const sized = col.map((u) => place.size(u));
    const w = Math.max(...sized.map((s) => s.w));
    const h = sized.reduce((n, s) => n + s.h, 0) + ROW_GAP * (sized.length - 1);
    const c = { x, w, h, sized };
    x += w + COL_GAP;
    return c;
  });
  const apartSized = apartUnits.map((u) => place.size(u));
  const apartH =
    apartSized.length === 0
      ? 0
      : APART_LABEL_H + apartSized.reduce((n, s) => n + s.h, 0) + ROW_GAP * (apartSized.length - 1);
  const height = Math.max(NODE_H, apartH, ...columns.map((c) => c.h)) + 2 * MARGIN;

  const boxes: Box[] = [];
  for (const c of columns) {
    let y = MARGIN + (height - 2 * MARGIN - c.h) / 2;
    for (const s of c.sized) {
      boxes.push(place.put(s, c.x + (c.w - s.w) / 2, y));
      y += s.h + ROW_GAP;
    }
  }
  let apartX: number | null = null;
  const apart: Box[] = [];
  if (apartSized.length > 0) {
    apartX = columns.length > 0 ? x - COL_GAP / 2 : MARGIN;
    const ax = apartX + COL_GAP / 2;
    let y = MARGIN + APART_LABEL_H;
    for (const s of apartSized) {
      apart.push(place.put(s, ax, y));
      y += s.h + ROW_GAP;
    }
    x = ax + Math.max(...apartSized.map((s) => s.w)) + COL_GAP;
  }

  return {
    boxes,
    edges: place.edges([...units.values(), ...apartUnits.slice(1)], unitOf),
    apart,
    apartX,
    width: Math.max(x - COL_GAP + MARGIN, NODE_W + 2 * MARGIN),
    height,
    folded: place.folded,
  };
}

/** Whether a group's tasks are drawn one by one. */
function shownOneByOne(u: Unit, opened: ReadonlySet<string>, crowded: boolean): boolean {
  if (u.reason === 'task') return true;
  if (opened.has(u.id)) return u.members.length <= OPEN_GROUP_MAX;
  return u.reason === 'children' && !crowded && u.members.length <= CHILDREN_SHOWN_MAX;
}

/** Sizes boxes, puts them where the columns say, and draws the edges between them. */
class Placement {
  /** Where each task is drawn: its own box, or the group holding it. */
  private readonly at = new Map<string, Rect>();
  /** Where arrows into each unit end: the middle of its left side, or of a frame's title bar. */
  private readonly entry = new Map<string, { x: number; y: number }>();
  folded = 0;

  constructor(
    private readonly opened: ReadonlySet<string>,
    private readonly crowded: boolean,
  ) {}

  size(u: Unit): { u: Unit; w: number; h: number; oneByOne: boolean } {
    if (u.reason === 'task') return { u, w: NODE_W, h: NODE_H, oneByOne: true };
    const oneByOne = shownOneByOne(u, this.opened, this.crowded);
    if (!oneByOne) return { u, w: SUMMARY_W, h: SUMMARY_H, oneByOne };
    const n = u.members.length;
    return {
      u,
      w: NODE_W + 2 * GROUP_PAD,
      h: GROUP_HEADER + n * NODE_H + (n - 1) * MEMBER_GAP + GROUP_PAD,
      oneByOne,
    };
  }

  put(s: ReturnType<Placement['size']>, x: number, y: number): Box {
    const { u, w, h } = s;
    const framed = u.reason !== 'task' && s.oneByOne;
    this.entry.set(u.id, { x, y: y + (framed ? GROUP_HEADER / 2 : h / 2) });
    if (u.reason === 'task') {
      const task = u.members[0]!;
      this.at.set(task.task_id, { x, y, w, h });
      return { kind: 'task', id: u.id, task, x, y, w, h };
    }
    let shown: TaskBox[] | null = null;
    if (s.oneByOne) {
      shown = u.members.map((task, i) => {
        const r = {
          x: x + GROUP_PAD,
          y: y + GROUP_HEADER + i * (NODE_H + MEMBER_GAP),
          w: NODE_W,
          h: NODE_H,
        };
        this.at.set(task.task_id, r);
        return { kind: 'task', id: `t:${task.task_id}`, task, ...r };
      });
    } else {
      this.folded += u.members.length;
      for (const m of u.members) this.at.set(m.task_id, { x, y, w, h });
    }
    return {
      kind: 'group',
      id: u.id,
      reason: u.reason,
      parent: u.parent,
      members: u.members,
      counts: countStatuses(u.members),
      shown,
      openable: u.members.length <= OPEN_GROUP_MAX && (!s.oneByOne || this.opened.has(u.id)),
      x,
      y,
      w,
      h,
    };
  }

  /** One arrow per parent box and child box, from the parent task itself when it is shown. */
  edges(units: Unit[], unitOf: Map<string, Unit>): EdgeLine[] {
    const out = new Map<string, EdgeLine>();
    for (const u of units) {
      const to = this.entry.get(u.id);
      if (!to) continue;
      for (const s of u.sources) {
        const from = this.at.get(s);
        if (!from || unitOf.get(s) === u) continue;
        const id = `${from.x},${from.y}>${u.id}`;
        if (out.has(id)) continue;
        const x1 = from.x + from.w;
        const y1 = from.y + from.h / 2;
        const { x: x2, y: y2 } = to;
        const bend = Math.max(24, (x2 - x1) / 2);
        out.set(id, {
          id,
          d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2 - 1},${y2}`,
          spawn: u.reason === 'children',
        });
      }
    }
    return [...out.values()];
  }
}
