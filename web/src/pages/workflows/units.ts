/**
 * The graph before it is drawn: units (one task, or a group of tasks drawn as one box), their
 * layers by depth, their order in each layer, and the folds that keep a large graph small.
 */
import type { WorkflowTask } from '../../types';

/** One box to draw: a task, or tasks drawn together. */
export interface Unit {
  id: string;
  /** `task`: one task; else a group (see GroupBox in layout.ts). */
  reason: 'task' | 'children' | 'alike' | 'more';
  members: WorkflowTask[];
  parent: WorkflowTask | null;
  /** Tasks this unit's members wait for (depends_on, or the spawning task). */
  sources: Set<string>;
  /** Position of its first member in the API's list: the order before crossings are reduced. */
  first: number;
  layer: number;
}

/** A unit of `members`, placed (before ordering) where its first member is in the API's list. */
export function unit(
  id: string,
  reason: Unit['reason'],
  members: WorkflowTask[],
  parent: WorkflowTask | null,
  sources: Set<string>,
  index: Map<string, number>,
): Unit {
  const first = Math.min(...members.map((m) => index.get(m.task_id) ?? 0));
  return { id, reason, members, parent, sources, first, layer: 0 };
}

/** Appends to the list under `key`, creating it. */
export function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Folds tasks with the same parents and the same dependents into one `alike` group. */
export function foldAlike(
  units: Map<string, Unit>,
  index: Map<string, number>,
  add: (u: Unit) => void,
): void {
  const dependents = new Map<string, string[]>();
  for (const u of units.values()) for (const s of u.sources) push(dependents, s, u.id);
  const classes = new Map<string, Unit[]>();
  for (const u of units.values()) {
    if (u.reason !== 'task') continue;
    const id = u.members[0]!.task_id;
    const sig = `${[...u.sources].sort().join(',')}|${(dependents.get(id) ?? []).sort().join(',')}`;
    push(classes, sig, u);
  }
  for (const same of classes.values()) {
    if (same.length < 2) continue;
    for (const u of same) units.delete(u.id);
    const members = same.flatMap((u) => u.members);
    add(unit(`a:${members[0]!.task_id}`, 'alike', members, null, same[0]!.sources, index));
  }
}

/** Longest path from a root, over units (a task never sits left of a task it waits for). */
export function assignLayers(units: Map<string, Unit>, unitOf: Map<string, Unit>): void {
  const preds = new Map<Unit, Set<Unit>>();
  const succs = new Map<Unit, Unit[]>();
  for (const u of units.values()) {
    const ps = new Set<Unit>();
    for (const s of u.sources) {
      const p = unitOf.get(s);
      if (p && p !== u && units.has(p.id)) ps.add(p);
    }
    preds.set(u, ps);
    for (const p of ps) push(succs, p, u);
  }
  const waiting = new Map([...preds].map(([u, ps]) => [u, ps.size]));
  const ready = [...units.values()].filter((u) => waiting.get(u) === 0);
  for (const u of units.values()) u.layer = 0;
  while (ready.length > 0) {
    const u = ready.pop()!;
    for (const s of succs.get(u) ?? []) {
      s.layer = Math.max(s.layer, u.layer + 1);
      const left = (waiting.get(s) ?? 1) - 1;
      waiting.set(s, left);
      if (left === 0) ready.push(s);
    }
  }
  // A cycle cannot be stored; were one read, its units would simply stay in layer 0.
}

/** Folds the last boxes of each layer taller than its share of `budget` boxes into one. */
export function foldTallLayers(
  units: Map<string, Unit>,
  index: Map<string, number>,
  add: (u: Unit) => void,
  budget: number,
): void {
  const byLayer = new Map<number, Unit[]>();
  for (const u of units.values()) push(byLayer, u.layer, u);
  const share = Math.max(4, Math.floor(budget / Math.max(1, byLayer.size)));
  for (const [layer, list] of byLayer) {
    if (list.length <= share) continue;
    const rest = list.sort((a, b) => a.first - b.first).slice(share - 1);
    for (const u of rest) units.delete(u.id);
    const members = rest.flatMap((u) => u.members);
    const inside = new Set(members.map((m) => m.task_id));
    const sources = new Set([...rest.flatMap((u) => [...u.sources])].filter((s) => !inside.has(s)));
    const more = unit(`m:${layer}`, 'more', members, null, sources, index);
    more.layer = layer;
    add(more);
  }
}

/** Units by layer, each layer ordered to cross fewer edges (barycentres of their parents). */
export function orderLayers(units: Map<string, Unit>, unitOf: Map<string, Unit>): Unit[][] {
  const layers: Unit[][] = [];
  for (const u of units.values()) (layers[u.layer] ??= []).push(u);
  const filled = layers.filter((l) => l !== undefined);
  for (const l of filled) l.sort((a, b) => a.first - b.first);
  const pos = new Map<Unit, number>();
  const number = (l: Unit[]): void => l.forEach((u, i) => pos.set(u, i));
  filled.forEach(number);
  for (const l of filled.slice(1)) {
    const centre = (u: Unit): number => {
      const ps = [...u.sources].map((s) => unitOf.get(s)).filter((p) => p && pos.has(p));
      return ps.length === 0
        ? (pos.get(u) ?? 0)
        : ps.reduce((n, p) => n + (pos.get(p!) ?? 0), 0) / ps.length;
    };
    const c = new Map(l.map((u) => [u, centre(u)]));
    l.sort((a, b) => c.get(a)! - c.get(b)! || a.first - b.first);
    number(l);
  }
  return filled;
}
