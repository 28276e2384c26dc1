/**
 * The shapes of the /v1/workflows routes, as the client sends and receives them
 * (docs/workflows.md). Field names are the API's own (snake_case); times are RFC 3339 in UTC.
 */
import type { SubmitTask, Task, TaskStatus } from './types.js';

/**
 * Derived from a workflow's tasks: `running` while any has not ended, then `succeeded`, or
 * `failed` when one ended dead or cancelled; `cancelled` after a cancel.
 */
export type WorkflowStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One task of a workflow's graph. */
export interface WorkflowTask {
  /**
   * Its key in the workflow: given at submit, or by `ctx.spawn` for a child (null when the
   * handler gave none). The on_failure task's is `$on_failure`.
   */
  key: string | null;
  task_id: string;
  status: TaskStatus;
  /** Attempts started so far. */
  attempt: number;
  command: string;
  queue: string;
  /** The error of its latest failed attempt, or why it was cancelled. */
  error: string | null;
  /** Keys of the tasks it waits for (its parents in the graph). */
  depends_on: string[];
  /** For a child spawned by a handler: the task that spawned it. */
  parent_task_id: string | null;
  /** The task that runs when another ends dead or cancelled. */
  on_failure: boolean;
  updated_at: string;
}

/** A workflow as the API returns it. */
export interface Workflow {
  id: string;
  name: string | null;
  status: WorkflowStatus;
  idempotency_key: string | null;
  created_at: string;
  cancelled_at: string | null;
  /** How many of its tasks are in each status (the on_failure task left out). */
  counts: Partial<Record<TaskStatus, number>>;
  /** Every task of the graph: in answers about one workflow (get, submit, cancel, watch). */
  tasks?: WorkflowTask[];
}

/** One page of workflows, newest first. */
export interface WorkflowPage {
  /** Without `tasks`: each has its `counts`. */
  items: Workflow[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

/** Paging for {@link TaskQueueClient.listWorkflows}. */
export interface WorkflowListOptions {
  /** Page size, 1 to 200. @default 50 */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** One task of a workflow submit: a task's fields, a key, and the keys it waits for. */
export interface SubmitWorkflowTask extends Omit<SubmitTask, 'idempotency_key'> {
  /** Unique in the workflow: letters, digits and `_ . : -`, at most 64. */
  key: string;
  /**
   * Keys of the tasks that must succeed before this one starts; their results reach its
   * handler as `ctx.parents`. @default none: it starts at once
   */
  depends_on?: string[];
}

/** What POST /v1/workflows takes. */
export interface SubmitWorkflow {
  /** Shown in lists and the dashboard. @default none */
  name?: string;
  /** At most 10,000 tasks. */
  tasks: SubmitWorkflowTask[];
  /**
   * Runs, with `ctx.failure`, when one of the tasks ends dead or cancelled; cancelled as not
   * needed once every task has succeeded. @default none
   */
  on_failure?: Omit<SubmitTask, 'idempotency_key'>;
  /** Submitting the same key again returns the existing workflow and stores nothing. */
  idempotency_key?: string;
}

/**
 * Whether an answer that may be a task or a workflow (a schedule's trigger) is the workflow.
 */
export function isWorkflow(run: Task | Workflow): run is Workflow {
  return 'counts' in run;
}
