import { NotFoundError, ValidationError } from '../../lib/errors.js';
import type { Db } from '../../store/db.js';
import type { TaskStatus } from '../../store/types.js';
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
import { SubmitWorkflowBody, type SubmitWorkflowInput } from '../schemas/workflows.js';
import { checkTaskId } from './submit.js';
import { guardDb } from './guard.js';
import { buildWorkflow } from './workflow-graph.js';

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
    const workflow = buildWorkflow(input);
    const stored = await guardDb(() => insertWorkflow(this.db, workflow));
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
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at = '', id = ''] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(at);
  if (Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id))
    throw new ValidationError('cursor is not one this API gave out', 'cursor');
  return { createdAt, id };
}
