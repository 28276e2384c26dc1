import type { Db } from './db.js';

/**
 * The coordinators' LISTEN/NOTIFY channels and their payloads, written and read here only.
 * (Task events have their own channel and line format, in events.ts.) NOTIFY is a hint: a
 * payload that does not parse costs a wake-up's latency, never a task.
 */

/** The channel that wakes coordinators when tasks become due. */
export function wakeChannel(db: Db): string {
  return `${db.schema}_wake`;
}

/** The channel that tells coordinators a running attempt was cancelled. */
export function cancelChannel(db: Db): string {
  return `${db.schema}_cancel`;
}

/** SQL for a wake payload, `<due epoch ms>:<queue>`, from SQL expressions of both. */
export function wakePayloadSql(dueAt: string, queue: string): string {
  return `(extract(epoch FROM ${dueAt}) * 1000)::bigint || ':' || ${queue}`;
}

/** A wake payload, as {@link wakePayloadSql} writes it. */
export function wakePayload(dueAt: Date, queue: string): string {
  return `${dueAt.getTime()}:${queue}`;
}

/** When the woken-for tasks are due (epoch ms); null when the payload does not say. */
export function parseWake(payload: string): { dueMs: number | null } {
  const dueMs = Number(payload.slice(0, payload.indexOf(':')));
  return { dueMs: payload.includes(':') && Number.isFinite(dueMs) ? dueMs : null };
}

/** A cancel payload: `<task id>:<attempt>`. */
export function cancelPayload(taskId: string, attempt: number): string {
  return `${taskId}:${attempt}`;
}

/** The attempt a cancel payload names; null when it does not parse. */
export function parseCancel(payload: string): { taskId: string; attempt: number } | null {
  const [taskId = '', attempt = ''] = payload.split(':');
  const n = Number(attempt);
  return taskId && attempt !== '' && Number.isInteger(n) ? { taskId, attempt: n } : null;
}
