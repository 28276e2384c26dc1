import { handlerName } from '../lib/command.js';
import type { Db } from './db.js';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.js';
import type { Task, TaskStatus } from './types.js';

/** One task by id, or null. */
export async function getTask(db: Db, id: string): Promise<Task | null> {
  const { rows } = await db.pool.query<TaskRow>({
    name: `taskq_get_${db.schema}`,
    text: `SELECT ${TASK_COLUMNS} FROM ${db.s}.tasks WHERE id = $1`,
    values: [id],
  });
  return rows[0] ? toTask(rows[0]) : null;
}

/** Filters for {@link listTasks} and {@link countTasks}. Every field is optional; they combine with AND. */
export interface TaskFilter {
  status?: TaskStatus;
  queue?: string;
  /** A single word matches the handler name; text with spaces matches the whole command. */
  command?: string;
  /** The task submitted with this idempotency key (there is at most one). */
  idempotencyKey?: string;
  /** Tasks whose latest attempt ran, or runs, on this worker (its id). */
  workerId?: string;
  /** Created at or after this instant. */
  createdAfter?: Date;
  /** Created before this instant. */
  createdBefore?: Date;
}

/** A page request for {@link listTasks}. */
export interface TaskPageQuery extends TaskFilter {
  /** Return tasks with ids below this one (newest first paging). */
  beforeId?: string;
  limit: number;
}

/**
 * How far a task's id (a uuid v7, stamped by the submitting process's clock) may be from its
 * created_at (the database's clock) for the created window to find it. The window is
 * checked on created_at exactly; this margin only widens the id range that lets the primary
 * key serve it (see {@link addCreatedWindow}). NTP keeps clocks within milliseconds; a
 * process whose clock is off by more than this has its tasks missed by the window.
 */
export const CREATED_ID_SKEW_MS = 60_000;

/** The smallest uuid v7 stamped at `ms` (epoch ms): every id created before `ms` sorts below it. */
export function uuidV7Floor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/** SQL conditions (AND-ed) of a filter, with their parameters appended to `values`. */
function filterConditions(f: TaskFilter, values: unknown[]): string[] {
  const where: string[] = [];
  const add = (sql: string, ...vs: unknown[]): void => {
    let text = sql;
    for (const v of vs) {
      values.push(v);
      text = text.replace('?', `$${values.length}`);
    }
    where.push(text);
  };
  if (f.status) add('status = ?', f.status);
  if (f.queue) add('queue = ?', f.queue);
  if (f.command) {
    const command = f.command.trim();
    // The whole command also names its handler, so tasks_handler_id_idx serves both.
    if (/\s/.test(command)) add('handler = ? AND command = ?', handlerName(command), command);
    else add('handler = ?', command);
  }
  if (f.idempotencyKey) add('idempotency_key = ?', f.idempotencyKey);
  if (f.workerId) add('worker_id = ?', f.workerId);
  addCreatedWindow(f, add);
  return where;
}

/**
 * The created window. Ids are uuid v7, so id order is creation order and the primary key
 * serves a time range; created_at, the time shown, is checked too, so the window is exact.
 */
function addCreatedWindow(f: TaskFilter, add: (sql: string, ...vs: unknown[]) => void): void {
  if (f.createdAfter) {
    const ms = f.createdAfter.getTime();
    add('id >= ?::uuid AND created_at >= ?', uuidV7Floor(ms - CREATED_ID_SKEW_MS), f.createdAfter);
  }
  if (f.createdBefore) {
    const ms = f.createdBefore.getTime();
    add('id < ?::uuid AND created_at < ?', uuidV7Floor(ms + CREATED_ID_SKEW_MS), f.createdBefore);
  }
}

/**
 * The branches a filtered query reads, each an extra condition. The queue, handler and worker
 * indexes leave running tasks out (0012_task_list_filters.sql: they would tax every claim),
 * so a query on those columns reads the running tasks apart, from the running set's own
 * indexes, and merges the two newest-first. A status other than running implies the
 * indexes' predicate, once it is spelt out.
 */
function branches(f: TaskFilter): string[] {
  if (!f.queue && !f.command && !f.workerId) return ['true'];
  if (f.status === 'running') return ['true'];
  if (f.status) return [`status <> 'running'`];
  return [`status <> 'running'`, `status = 'running'`];
}

/** Tasks newest first, filtered. Fetches `limit + 1` rows so the caller can tell if more exist. */
export async function listTasks(db: Db, q: TaskPageQuery): Promise<Task[]> {
  const values: unknown[] = [];
  const where = filterConditions(q, values);
  if (q.beforeId) {
    values.push(q.beforeId);
    where.push(`id < $${values.length}`);
  }
  values.push(q.limit + 1);
  const limit = `$${values.length}`;
  const parts = branches(q).map(
    (b) =>
      `(SELECT ${TASK_COLUMNS} FROM ${db.s}.tasks WHERE ${[...where, b].join(' AND ')}
        ORDER BY id DESC LIMIT ${limit})`,
  );
  const { rows } = await db.pool.query<TaskRow>(
    parts.length === 1
      ? (parts[0] as string)
      : `SELECT * FROM (${parts.join(' UNION ALL ')}) page ORDER BY id DESC LIMIT ${limit}`,
    values,
  );
  return rows.map(toTask);
}

/** A count that stops at a cap: `count` is exact unless `capped`, when there are more. */
export interface CappedCount {
  count: number;
  capped: boolean;
}

/**
 * How many tasks match a filter, exact up to `cap` (then `capped`). Each branch reads at most
 * `cap + 1` index entries, so the cost is bounded whatever the table holds.
 */
export async function countTasks(db: Db, f: TaskFilter, cap: number): Promise<CappedCount> {
  const values: unknown[] = [];
  const where = filterConditions(f, values);
  values.push(cap + 1);
  const limit = `$${values.length}`;
  const parts = branches(f).map(
    (b) =>
      `(SELECT count(*) FROM (SELECT 1 FROM ${db.s}.tasks WHERE ${[...where, b].join(' AND ')}
        LIMIT ${limit}) x)`,
  );
  const { rows } = await db.pool.query<{ n: string }>(`SELECT ${parts.join(' + ')} AS n`, values);
  const n = Number(rows[0]?.n ?? 0);
  return { count: Math.min(n, cap), capped: n > cap };
}
