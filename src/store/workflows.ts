import type pg from 'pg';
import type { Db } from './db.js';
import { withTransaction } from './db.js';
import { cancelPayload, cancelChannel } from './channels.js';
import { EVENTS_PER_NOTIFICATION, eventLine, eventsChannel } from './events.js';
import { insertTasks } from './insert.js';
import type { NewTask, TaskStatus } from './types.js';

/** A workflow to store: its nodes (tasks with keys) and the edges between them. */
export interface NewWorkflow {
  id: string;
  name: string | null;
  idempotencyKey: string | null;
  /** Every node, with workflowId, workflowKey, waitingOn and hasDependents set. */
  nodes: NewTask[];
  /** child waits for parent, by task id. */
  edges: Array<{ parentId: string; childId: string }>;
  /** Runs when a node fails; stored blocked, released by the failure. */
  onFailure: NewTask | null;
}

/** One node of a stored workflow, as its graph shows it. */
export interface WorkflowNode {
  taskId: string;
  key: string | null;
  status: TaskStatus;
  attempt: number;
  command: string;
  queue: string;
  error: string | null;
  /** The task that spawned it (ctx.waitFor), when it was spawned. */
  parentId: string | null;
  /** Keys of the nodes it depends on. */
  dependsOn: string[];
  /** Whether it is the workflow's on_failure task. */
  onFailure: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** A workflow's own row. */
export interface WorkflowRecord {
  id: string;
  name: string | null;
  idempotencyKey: string | null;
  onFailureTaskId: string | null;
  createdAt: Date;
  cancelledAt: Date | null;
}

/** A workflow in a list: its row and how many of its tasks are in each status. */
export interface WorkflowSummary extends WorkflowRecord {
  counts: Partial<Record<TaskStatus, number>>;
}

const WORKFLOW_COLUMNS = `id, name, idempotency_key AS "idempotencyKey",
  on_failure_task_id AS "onFailureTaskId", created_at AS "createdAt", cancelled_at AS "cancelledAt"`;

/**
 * Stores a workflow in one transaction: all of it or nothing. Nodes with parents start
 * blocked; the others are due at their run_at. With an idempotency key already used, nothing
 * is stored and the existing workflow's id is returned. Every workflow is stored here, whether
 * a client submitted it or a cron schedule fired it.
 *
 * @param client a transaction already open, to store the workflow in (a schedule's firing);
 *   by default one of its own.
 */
export async function insertWorkflow(
  db: Db,
  wf: NewWorkflow,
  client?: pg.PoolClient,
): Promise<{ id: string; created: boolean }> {
  if (client) return storeWorkflow(db, wf, client);
  return withTransaction(db, (own) => storeWorkflow(db, wf, own));
}

async function storeWorkflow(
  db: Db,
  wf: NewWorkflow,
  client: pg.PoolClient,
): Promise<{ id: string; created: boolean }> {
  // Params: $1 id, $2 name, $3 idempotency key, $4 on_failure task id
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO ${db.s}.workflows (id, name, idempotency_key, on_failure_task_id)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING id`,
    [wf.id, wf.name, wf.idempotencyKey, wf.onFailure?.id ?? null],
  );
  if (rows.length === 0) {
    const existing = await client.query<{ id: string }>(
      `SELECT id FROM ${db.s}.workflows WHERE idempotency_key = $1`,
      [wf.idempotencyKey],
    );
    return { id: existing.rows[0]?.id as string, created: false };
  }
  await insertTasks(db, wf.onFailure ? [...wf.nodes, wf.onFailure] : wf.nodes, client);
  if (wf.edges.length > 0) {
    // Params: $1 parent ids, $2 child ids
    await client.query(
      `INSERT INTO ${db.s}.task_edges (parent_id, child_id)
       SELECT * FROM unnest($1::uuid[], $2::uuid[])`,
      [wf.edges.map((e) => e.parentId), wf.edges.map((e) => e.childId)],
    );
  }
  return { id: wf.id, created: true };
}

/** A workflow's row, or null. */
export async function getWorkflowRecord(db: Db, id: string): Promise<WorkflowRecord | null> {
  const { rows } = await db.pool.query<WorkflowRecord>(
    `SELECT ${WORKFLOW_COLUMNS} FROM ${db.s}.workflows WHERE id = $1`,
    [id],
  );
  return rows[0] ?? null;
}

/** Every node of a workflow (spawned children included), oldest first, with its parents' keys. */
export async function listWorkflowNodes(db: Db, workflowId: string): Promise<WorkflowNode[]> {
  const { rows } = await db.pool.query<WorkflowNode>(
    `SELECT t.id AS "taskId", t.workflow_key AS key, t.status, t.attempt, t.command, t.queue,
            t.error, t.parent_id AS "parentId", t.created_at AS "createdAt",
            t.updated_at AS "updatedAt",
            -- coalesce: a workflow without an on_failure task has a null id to compare with
            coalesce(t.id = w.on_failure_task_id, false) AS "onFailure",
            coalesce((SELECT array_agg(p.workflow_key ORDER BY p.workflow_key)
                      FROM ${db.s}.task_edges e JOIN ${db.s}.tasks p ON p.id = e.parent_id
                      WHERE e.child_id = t.id), '{}') AS "dependsOn"
     FROM ${db.s}.tasks t JOIN ${db.s}.workflows w ON w.id = t.workflow_id
     WHERE t.workflow_id = $1
     ORDER BY t.id`,
    [workflowId],
  );
  return rows;
}

/** Workflows newest first, with the count of their tasks in each status. */
export async function listWorkflows(
  db: Db,
  limit: number,
  before: { createdAt: Date; id: string } | null,
): Promise<WorkflowSummary[]> {
  // Params: $1 limit (one more, to tell whether more exist), $2 cursor time, $3 cursor id
  const { rows } = await db.pool.query<WorkflowSummary>(
    `SELECT ${WORKFLOW_COLUMNS},
            coalesce((SELECT jsonb_object_agg(status, n) FROM (
               SELECT status, count(*)::int AS n FROM ${db.s}.tasks t
               WHERE t.workflow_id = w.id AND t.id IS DISTINCT FROM w.on_failure_task_id
               GROUP BY status) s), '{}') AS counts
     FROM ${db.s}.workflows w
     WHERE $2::timestamptz IS NULL OR (w.created_at, w.id) < ($2, $3::uuid)
     ORDER BY w.created_at DESC, w.id DESC
     LIMIT $1`,
    [limit + 1, before?.createdAt ?? null, before?.id ?? null],
  );
  return rows;
}

/**
 * Cancels a workflow: marks it (so its on_failure task does not run) and cancels every task
 * of it that has not ended; running handlers are told to stop, as for a single cancel.
 * @returns how many tasks were cancelled; null when there is no such workflow.
 */
export async function cancelWorkflow(db: Db, id: string): Promise<number | null> {
  return withTransaction(db, async (client) => {
    const marked = await client.query(
      `UPDATE ${db.s}.workflows SET cancelled_at = coalesce(cancelled_at, now()) WHERE id = $1`,
      [id],
    );
    if (marked.rowCount === 0) return null;
    // Params: $1 workflow id
    const { rows } = await client.query<{
      id: string;
      attempt: number;
      previous: TaskStatus;
      queue: string;
      updated_at: Date;
      worker_id: string | null;
      picked_at: Date | null;
      started_at: Date | null;
    }>(
      `WITH open AS (
         SELECT id, status FROM ${db.s}.tasks
         WHERE workflow_id = $1 AND status IN ('blocked', 'waiting', 'pending', 'running')
         FOR UPDATE
       )
       UPDATE ${db.s}.tasks t SET status = 'cancelled', cancelled_at = now(), updated_at = now(),
         lease_expires_at = NULL, error = coalesce(t.error, 'cancelled with its workflow')
       FROM open WHERE t.id = open.id
       RETURNING t.id, t.attempt, open.status AS previous, t.queue, t.updated_at, t.worker_id,
         t.picked_at, t.started_at`,
      [id],
    );
    const running = rows.filter((r) => r.previous === 'running');
    if (running.length > 0) {
      await client.query(
        `INSERT INTO ${db.s}.task_attempts
           (task_id, attempt, worker_id, picked_at, started_at, finished_at, outcome, error)
         SELECT * , now(), 'cancelled', 'cancelled with its workflow'
         FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[], $5::timestamptz[])
         ON CONFLICT DO NOTHING`,
        [
          running.map((r) => r.id),
          running.map((r) => r.attempt),
          running.map((r) => r.worker_id),
          running.map((r) => r.picked_at),
          running.map((r) => r.started_at),
        ],
      );
      for (const r of running)
        await client.query(`SELECT pg_notify($1, $2)`, [
          cancelChannel(db),
          cancelPayload(r.id, r.attempt),
        ]);
    }
    for (let i = 0; i < rows.length; i += EVENTS_PER_NOTIFICATION) {
      const lines = rows.slice(i, i + EVENTS_PER_NOTIFICATION).map((r) =>
        eventLine({
          taskId: r.id,
          kind: 'cancelled',
          attempt: r.attempt,
          at: r.updated_at.getTime(),
          queue: r.queue,
        }),
      );
      await client.query(`SELECT pg_notify($1, $2)`, [eventsChannel(db), lines.join('\n')]);
    }
    return rows.length;
  });
}
