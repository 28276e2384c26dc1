import type pg from 'pg';
import { withTransaction, type Db } from './db.js';
import { insertTasks } from './insert.js';
import { eventsChannel, notifyChangesCte } from './events.js';
import { retryAtSql } from './retry.js';
import { epochMs } from './rows.js';
import type { AttemptResult, CompletedAttempt, HeldAttempt, NewTask } from './types.js';

/** The columns a completion returns, as {@link CompletedAttempt}, from the CTE `done`. */
const COMPLETED_COLUMNS = `id, attempt, worker_id AS "workerId", status,
  ${epochMs('scheduled_at')} AS "scheduledAtMs", queue, handler,
  ${epochMs('started_at')} AS "startedAtMs", failure, trace_context AS "traceContext"`;

/** One result as the JSON parameter of {@link completeBatch} carries it. */
interface ResultRow {
  id: string;
  attempt: number;
  worker_id: string;
  ok: boolean;
  result: string | null;
  error: string | null;
  retryable: boolean;
  executor: string;
  failure: string | null;
  started_at_ms: number | null;
}

/**
 * Records that handlers started, and returns how many reports counted. Fenced: a stale
 * attempt, or one its reporter does not hold, changes nothing. The worker's clock is clamped
 * between picked_at and now, so clock skew can never put the timestamps of one task out of
 * order.
 */
export async function markStarted(
  db: Db,
  refs: Array<HeldAttempt & { startedAt: Date }>,
): Promise<number> {
  if (refs.length === 0) return 0;
  // Params: $1 ids, $2 attempts, $3 reporting worker ids, $4 started_at per attempt
  const { rowCount } = await db.pool.query({
    name: `taskq_started_${db.schema}`,
    text: `
      UPDATE ${db.s}.tasks t
      SET started_at = least(greatest(s.started_at, t.picked_at), now()), updated_at = now()
      FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[])
        AS s(id, attempt, worker_id, started_at)
      WHERE t.id = s.id AND t.attempt = s.attempt AND t.worker_id = s.worker_id
        AND t.status = 'running'`,
    values: [
      refs.map((r) => r.id),
      refs.map((r) => r.attempt),
      refs.map((r) => r.workerId),
      refs.map((r) => r.startedAt),
    ],
  });
  return rowCount ?? 0;
}

/**
 * Records finished attempts in one statement, and appends them to task_attempts.
 * The fencing rule: a result counts only while its attempt is the task's current one, the
 * task is still running, and the worker that reports it is the one the attempt was handed
 * to. Anything else (a zombie's late result, a result for a cancelled task, another worker's
 * forgery) matches no row and is left out of the returned list.
 *
 * A failure goes back to pending with exponential backoff and jitter while attempts remain
 * and the handler did not mark it final; otherwise the task is dead.
 */
export async function completeBatch(
  db: Db,
  results: AttemptResult[],
  client: pg.Pool | pg.PoolClient = db.pool,
): Promise<CompletedAttempt[]> {
  if (results.length === 0) return [];
  // The whole batch is one JSON parameter, an array of ResultRow: one string for node-pg to
  // send, where ten arrays cost it an escaped array literal each. JSON.stringify writes each
  // result's JSON text as a string value, so no result can reach another row's fields.
  // json_to_recordset rather than jsonb_: it reads the text once, where jsonb would first
  // build its binary form (50,000-task drains: PostgreSQL 36–40 ms of CPU per 1,000 tasks
  // with json, 37–43 with jsonb, 35–40 with the arrays; within the noise, and not more).
  const rows: ResultRow[] = results.map((r) => ({
    id: r.id,
    attempt: r.attempt,
    worker_id: r.workerId,
    ok: r.ok,
    result: r.resultJson,
    error: r.error,
    retryable: r.retryable,
    executor: r.executor,
    failure: r.failure,
    started_at_ms: r.startedAtMs,
  }));
  // Params: $1 the results (JSON array of ResultRow), $2 events channel
  const { rows: done } = await client.query<CompletedAttempt>({
    name: `taskq_complete_${db.schema}`,
    text: `
      WITH input AS (
        SELECT i.id, i.attempt, i.worker_id, i.ok, i.result, i.error, i.retryable, i.executor,
          i.failure, to_timestamp(i.started_at_ms / 1000.0) AS started_at
        FROM json_to_recordset($1::json) AS i(id uuid, attempt int, worker_id text, ok bool,
          result text, error text, retryable bool, executor text, failure text,
          started_at_ms float8)
      ), done AS (
        UPDATE ${db.s}.tasks t SET
          status = CASE
            WHEN i.ok THEN 'succeeded'
            WHEN i.retryable AND t.attempt < t.max_attempts THEN 'pending'
            ELSE 'dead' END,
          scheduled_at = CASE
            WHEN NOT i.ok AND i.retryable AND t.attempt < t.max_attempts
            THEN ${retryAtSql('t')}
            ELSE t.scheduled_at END,
          result = i.result::jsonb,
          error = CASE WHEN i.ok THEN NULL ELSE i.error END,
          executor = i.executor,
          started_at = coalesce(t.started_at, least(greatest(i.started_at, t.picked_at), now())),
          completed_at = CASE WHEN i.ok THEN now() ELSE t.completed_at END,
          failed_at = CASE WHEN i.ok THEN t.failed_at ELSE now() END,
          lease_expires_at = NULL,
          updated_at = now()
        FROM input i
        WHERE t.id = i.id AND t.attempt = i.attempt AND t.worker_id = i.worker_id
          AND t.status = 'running'
        RETURNING t.id, t.attempt, t.status, t.scheduled_at, t.updated_at, t.queue, t.handler, t.trace_context,
          t.worker_id,
          t.picked_at, t.started_at, i.ok, i.failure, i.error
      ), history AS (
        INSERT INTO ${db.s}.task_attempts
          (task_id, attempt, worker_id, picked_at, started_at, finished_at, outcome, error)
        SELECT id, attempt, worker_id, picked_at, started_at, now(),
          CASE WHEN ok THEN 'succeeded' WHEN failure = 'timeout' THEN 'timeout' ELSE 'failed' END,
          error
        FROM done
        ON CONFLICT DO NOTHING
      ), ${notifyChangesCte(db, 'done', '$2')}
      SELECT ${COMPLETED_COLUMNS}
      FROM done, (SELECT count(*) FROM notified) AS n`,
    values: [JSON.stringify(rows), eventsChannel(db)],
  });
  return done;
}

/**
 * Records a finished attempt that spawned children (ctx.spawn, ctx.waitFor), and stores the
 * children, in one transaction: under the same fence as any result, so a stale attempt, or a
 * worker that does not hold it, spawns nothing.
 *
 * With `waitForChildren`, the task does not finish: it becomes `waiting` with a count of its
 * children (the trigger of migration 0013 counts it down as each ends and releases the task,
 * as a new attempt, when the last one has), and waiting uses no attempt (max_attempts grows by
 * one). Without it, the attempt completes as {@link completeBatch} records it, and the children
 * run on their own.
 *
 * @param children the children, prepared like any submit; parent and workflow are set here.
 * @returns the attempt as recorded, or null when the fence refused it.
 */
export async function completeWithChildren(
  db: Db,
  result: AttemptResult,
  children: NewTask[],
  waitForChildren: boolean,
): Promise<CompletedAttempt | null> {
  return withTransaction(db, async (client) => {
    let done: (CompletedAttempt & { workflowId: string | null }) | undefined;
    if (waitForChildren) {
      // Params: $1 id, $2 attempt, $3 worker, $4 children, $5 started_at (epoch ms), $6 executor,
      // $7 events channel
      const { rows } = await client.query<CompletedAttempt & { workflowId: string | null }>(
        `WITH done AS (
           UPDATE ${db.s}.tasks t SET
             status = CASE WHEN $4::int = 0 THEN 'pending' ELSE 'waiting' END,
             waiting_on = $4, max_attempts = t.max_attempts + 1, lease_expires_at = NULL,
             scheduled_at = now(), executor = $6,
             inputs = CASE WHEN $4::int = 0 THEN '{"children": []}'::jsonb ELSE NULL END,
             started_at = coalesce(t.started_at,
               least(greatest(to_timestamp($5::float8 / 1000.0), t.picked_at), now())),
             updated_at = now()
           WHERE t.id = $1 AND t.attempt = $2 AND t.worker_id = $3 AND t.status = 'running'
           RETURNING t.id, t.attempt, t.worker_id, t.status, t.scheduled_at, t.updated_at,
             t.queue, t.handler, t.trace_context, t.picked_at, t.started_at, t.workflow_id
         ), history AS (
           INSERT INTO ${db.s}.task_attempts
             (task_id, attempt, worker_id, picked_at, started_at, finished_at, outcome, error)
           SELECT id, attempt, worker_id, picked_at, started_at, now(), 'waiting', NULL FROM done
           ON CONFLICT DO NOTHING
         ), ${notifyChangesCte(db, 'done', '$7')}
         SELECT ${COMPLETED_COLUMNS.replace('failure,', 'NULL AS failure,')},
           workflow_id AS "workflowId"
         FROM done, (SELECT count(*) FROM notified) AS n`,
        [
          result.id,
          result.attempt,
          result.workerId,
          children.length,
          result.startedAtMs,
          result.executor,
          eventsChannel(db),
        ],
      );
      done = rows[0];
    } else {
      const [recorded] = await completeBatch(db, [result], client);
      if (recorded) {
        const { rows } = await client.query<{ workflowId: string | null }>(
          `SELECT workflow_id AS "workflowId" FROM ${db.s}.tasks WHERE id = $1`,
          [result.id],
        );
        done = { ...recorded, workflowId: rows[0]?.workflowId ?? null };
      }
    }
    if (!done) return null;
    const { workflowId, ...recorded } = done;
    await insertTasks(
      db,
      children.map((c) => ({
        ...c,
        parentId: waitForChildren ? result.id : null,
        workflowId,
      })),
      client,
    );
    return recorded;
  });
}
