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

/** Filters for {@link listTasks}. Every field is optional; they combine with AND. */
export interface TaskFilter {
  status?: TaskStatus;
  queue?: string;
  /** A single word matches the handler name; text with spaces matches the whole command. */
  command?: string;
  /** The task submitted with this idempotency key (there is at most one). */
  idempotencyKey?: string;
  /** Return tasks with ids below this one (newest first paging). */
  beforeId?: string;
  limit: number;
}

/** Tasks newest first, filtered. Fetches `limit + 1` rows so the caller can tell if more exist. */
export async function listTasks(db: Db, f: TaskFilter): Promise<Task[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (sql: string, v: unknown): void => {
    values.push(v);
    where.push(sql.replace('?', `$${values.length}`));
  };
  if (f.status) add('status = ?', f.status);
  if (f.queue) add('queue = ?', f.queue);
  if (f.command) add(/\s/.test(f.command.trim()) ? 'command = ?' : 'handler = ?', f.command.trim());
  if (f.idempotencyKey) add('idempotency_key = ?', f.idempotencyKey);
  if (f.beforeId) add('id < ?', f.beforeId);
  values.push(f.limit + 1);
  const { rows } = await db.pool.query<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM ${db.s}.tasks
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY id DESC LIMIT $${values.length}`,
    values,
  );
  return rows.map(toTask);
}
