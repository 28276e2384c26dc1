import { v7 as uuidv7 } from 'uuid';
import { NotFoundError, ValidationError } from '../../lib/errors.js';
import type { Db } from '../../store/db.js';
import type { NewTask, TaskStatus } from '../../store/types.js';
import {
  cancelWorkflow,
  getWorkflowRecord,
  insertWorkflow,
  listWorkflowNodes,
  listWorkflows,
  type WorkflowNode,
  type WorkflowRecord,
} from '../../store/workflows.js';
import { checkSchema } from '../schemas/check.js';
import { checkStorable } from '../schemas/storable.js';
import {
  SubmitWorkflowBody,
  type SubmitWorkflowInput,
  type WorkflowTaskInput,
} from '../schemas/workflows.js';
import { checkTaskId, prepareTask } from './submit.js';
import { guardDb } from './guard.js';

/** The key the on_failure task has in its workflow's graph (user keys cannot start with $). */
export const ON_FAILURE_KEY = '$on_failure';

/** Derived from a workflow's tasks. */
export type WorkflowStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** A workflow as the API shows it. */
export interface WorkflowView extends WorkflowRecord {
  status: WorkflowStatus;
  /** Tasks in each status, the on_failure task left out. */
  counts: Partial<Record<TaskStatus, number>>;
  /** Every task, when one workflow is asked for. */
  nodes?: WorkflowNode[];
}

const OPEN: readonly TaskStatus[] = ['blocked', 'waiting', 'pending', 'running'];

/** running while a task has not ended; then failed if one ended dead or cancelled. */
export function workflowStatus(
  record: { cancelledAt: Date | null },
  counts: Partial<Record<TaskStatus, number>>,
): WorkflowStatus {
  if (record.cancelledAt) return 'cancelled';
  if (OPEN.some((s) => (counts[s] ?? 0) > 0)) return 'running';
  return (counts.dead ?? 0) + (counts.cancelled ?? 0) > 0 ? 'failed' : 'succeeded';
}

/**
 * Workflows: graphs of tasks submitted at once, where a task waits for the tasks it depends on
 * (docs/workflows.md). One instance per process.
 */
export class WorkflowsApi {
  constructor(private readonly db: Db) {}

  /**
   * Checks the graph (unknown keys, cycles, size) and stores it in one transaction: all or
   * nothing. With a known idempotency key, returns the existing workflow.
   * @throws ValidationError naming the field, e.g. `tasks.3.depends_on.0`.
   */
  async submit(
    input: SubmitWorkflowInput,
    inputState: 'validated' | 'unchecked' = 'unchecked',
  ): Promise<{ workflow: WorkflowView; created: boolean }> {
    if (inputState === 'unchecked') {
      checkStorable(input);
      checkSchema(SubmitWorkflowBody, input);
    }
    const workflowId = uuidv7();
    const nodes = input.tasks.map((t, i) => ({ input: t, task: this.prepare(t, i, workflowId) }));
    const byKey = new Map<string, { task: NewTask; index: number }>();
    nodes.forEach(({ input: t, task }, index) => {
      if (byKey.has(t.key))
        throw new ValidationError(
          `tasks.${index}.key "${t.key}" is used by an earlier task`,
          `tasks.${index}.key`,
        );
      byKey.set(t.key, { task, index });
    });
    const edges: Array<{ parentId: string; childId: string }> = [];
    nodes.forEach(({ input: t, task }, index) => {
      (t.depends_on ?? []).forEach((parentKey, j) => {
        const field = `tasks.${index}.depends_on.${j}`;
        const parent = byKey.get(parentKey);
        if (!parent)
          throw new ValidationError(`${field}: no task has the key "${parentKey}"`, field);
        if (parentKey === t.key)
          throw new ValidationError(`${field}: a task cannot depend on itself`, field);
        parent.task.hasDependents = true;
        edges.push({ parentId: parent.task.id, childId: task.id });
      });
      task.waitingOn = t.depends_on?.length ?? 0;
    });
    checkAcyclic(nodes.map((n) => n.input));
    const onFailure = input.on_failure
      ? {
          ...this.prepareTask(input.on_failure, 'on_failure'),
          workflowId,
          workflowKey: ON_FAILURE_KEY,
          // Never released by parents: only a failure releases it (the trigger in 0013).
          waitingOn: 1,
        }
      : null;
    const stored = await guardDb(() =>
      insertWorkflow(this.db, {
        id: workflowId,
        name: input.name ?? null,
        idempotencyKey: input.idempotency_key ?? null,
        nodes: nodes.map((n) => n.task),
        edges,
        onFailure,
      }),
    );
    return { workflow: await this.get(stored.id), created: stored.created };
  }

  /** One workflow with every task and its state. @throws NotFoundError */
  async get(id: string): Promise<WorkflowView> {
    const workflowId = checkTaskId(id, 'id');
    const [record, nodes] = await guardDb(() =>
      Promise.all([getWorkflowRecord(this.db, workflowId), listWorkflowNodes(this.db, workflowId)]),
    );
    if (!record) throw new NotFoundError(`no workflow with id ${workflowId}`);
    const counts: Partial<Record<TaskStatus, number>> = {};
    for (const n of nodes) if (!n.onFailure) counts[n.status] = (counts[n.status] ?? 0) + 1;
    return { ...record, status: workflowStatus(record, counts), counts, nodes };
  }

  /** Workflows, newest first. */
  async list(q: { limit?: number; cursor?: string }): Promise<{
    items: WorkflowView[];
    nextCursor: string | null;
  }> {
    const limit = q.limit ?? 50;
    const before = q.cursor === undefined ? null : decodeCursor(q.cursor);
    const rows = await guardDb(() => listWorkflows(this.db, limit, before));
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map((w) => ({ ...w, status: workflowStatus(w, w.counts) })),
      nextCursor:
        rows.length > limit && last
          ? Buffer.from(`${last.createdAt.toISOString()}|${last.id}`).toString('base64url')
          : null,
    };
  }

  /** Cancels every task of the workflow that has not ended. @throws NotFoundError */
  async cancel(id: string): Promise<WorkflowView> {
    const workflowId = checkTaskId(id, 'id');
    const n = await guardDb(() => cancelWorkflow(this.db, workflowId));
    if (n === null) throw new NotFoundError(`no workflow with id ${workflowId}`);
    return this.get(workflowId);
  }

  private prepare(t: WorkflowTaskInput, index: number, workflowId: string): NewTask {
    const { key, depends_on: _dependsOn, ...fields } = t;
    return { ...this.prepareTask(fields, `tasks.${index}`), workflowId, workflowKey: key };
  }

  private prepareTask(fields: Parameters<typeof prepareTask>[0], at: string): NewTask {
    try {
      return prepareTask(fields);
    } catch (err) {
      if (err instanceof ValidationError) {
        const field = `${at}${err.field ? `.${err.field}` : ''}`;
        throw new ValidationError(`${at}: ${err.message}`, field);
      }
      throw err;
    }
  }
}

/**
 * Refuses a graph with a cycle, naming a task on it (Kahn's algorithm: what never reaches
 * zero remaining parents is on a cycle or below one).
 * @throws ValidationError
 */
function checkAcyclic(tasks: WorkflowTaskInput[]): void {
  const remaining = new Map(tasks.map((t) => [t.key, t.depends_on?.length ?? 0]));
  const children = new Map<string, string[]>();
  for (const t of tasks)
    for (const p of t.depends_on ?? []) children.set(p, [...(children.get(p) ?? []), t.key]);
  const ready = tasks.filter((t) => (t.depends_on?.length ?? 0) === 0).map((t) => t.key);
  let seen = 0;
  while (ready.length > 0) {
    const key = ready.pop() as string;
    seen++;
    for (const c of children.get(key) ?? []) {
      const left = (remaining.get(c) ?? 0) - 1;
      remaining.set(c, left);
      if (left === 0) ready.push(c);
    }
  }
  if (seen === tasks.length) return;
  const index = tasks.findIndex((t) => (remaining.get(t.key) ?? 0) > 0);
  throw new ValidationError(
    `tasks.${index}: "${tasks[index]?.key}" is on a cycle of depends_on (or waits for a task on one); a workflow must be a directed acyclic graph`,
    `tasks.${index}.depends_on`,
  );
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at = '', id = ''] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(at);
  if (Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id))
    throw new ValidationError('cursor is not one this API gave out', 'cursor');
  return { createdAt, id };
}
