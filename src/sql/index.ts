/**
 * Enqueue inside your own transaction: `task-queue/sql`. Any client with a `query(text,
 * values)` method works (node-postgres clients and pool clients; Prisma, Drizzle and Kysely
 * through their raw-SQL calls, see docs/integration.md). The task exists, and the coordinators
 * are woken, only if your transaction commits; a rollback leaves nothing behind.
 *
 * ```ts
 * import { submitTask } from 'task-queue/sql';
 * await client.query('BEGIN');
 * await client.query('INSERT INTO orders …');
 * const id = await submitTask(client, { command: 'send-receipt', payload: { order: 42 } });
 * await client.query('COMMIT');
 * ```
 */

/** Anything with node-postgres's `query(text, values)`. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

/** A task to submit: the fields of `POST /v1/tasks`, but for `requires` (not taken here). */
export interface SqlTask {
  command: string;
  payload?: unknown;
  queue?: string;
  priority?: number;
  /** RFC 3339, any offset. */
  run_at?: string;
  max_attempts?: number;
  timeout_ms?: number;
  backoff_ms?: number;
  backoff_max_ms?: number;
  idempotency_key?: string;
  concurrency_key?: string;
  /** Counted against the queue's key_rate_limit with the other tasks of this key. */
  rate_key?: string;
  /** Its group in the queue's round robin, weighted by the queue's group_weights. */
  group?: string;
}

/** Options of the helpers. */
export interface SqlOptions {
  /** The schema Task Queue lives in. @default 'taskq' */
  schema?: string;
}

/** A task as `taskStatus` reads it. */
export interface SqlTaskStatus {
  id: string;
  status: string;
  attempt: number;
  result: unknown;
  error: string | null;
  run_at: Date;
  created_at: Date;
  updated_at: Date;
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,39}$/;

function schemaOf(o: SqlOptions): string {
  const schema = o.schema ?? 'taskq';
  if (!SCHEMA.test(schema)) throw new Error(`schema "${schema}" is not a valid taskq schema name`);
  return `"${schema}"`;
}

/**
 * Submits a task with `<schema>.submit()` on `client`, inside whatever transaction it is in.
 * Returns the task's id (with a known idempotency key, the existing task's).
 * @throws the database error for input the API would refuse (SQLSTATE 22023), its message
 * naming the field, e.g. `taskq.submit: queue must be 1-64 letters, …`.
 */
export async function submitTask(
  client: Queryable,
  task: SqlTask,
  o: SqlOptions = {},
): Promise<string> {
  const { command, payload, ...options } = task;
  const { rows } = await client.query(
    `SELECT ${schemaOf(o)}.submit($1, $2::jsonb, $3::jsonb) AS id`,
    [command, payload === undefined ? null : JSON.stringify(payload), JSON.stringify(options)],
  );
  return rows[0]?.id as string;
}

/** A task's status, for a caller that holds its id; null when there is no such task. */
export async function taskStatus(
  client: Queryable,
  id: string,
  o: SqlOptions = {},
): Promise<SqlTaskStatus | null> {
  const { rows } = await client.query(`SELECT * FROM ${schemaOf(o)}.task_status($1)`, [id]);
  return (rows[0] as SqlTaskStatus | undefined) ?? null;
}
