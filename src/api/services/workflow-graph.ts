import { v7 as uuidv7 } from 'uuid';
import { ValidationError } from '../../lib/errors.js';
import type { NewTask } from '../../store/types.js';
import type { NewWorkflow } from '../../store/workflows.js';
import type { SubmitWorkflowInput, WorkflowTaskInput } from '../schemas/workflows.js';
import { prepareTask } from './submit.js';

/** The key the on_failure task has in its workflow's graph (user keys cannot start with $). */
export const ON_FAILURE_KEY = '$on_failure';

/**
 * Turns checked workflow input into the rows to store: every task prepared as a submit
 * prepares one, the edges between them, and the on_failure task. Checks what a schema cannot:
 * repeated keys, unknown or self `depends_on`, cycles. A submit and a cron schedule's tick
 * both build their workflows here, so a workflow started by cron is the one a submit of the
 * same body would store.
 *
 * @param run the workflow's id (@default a new one) and idempotency key (@default the input's).
 * @throws ValidationError naming the field, e.g. `tasks.3.depends_on.0`.
 */
export function buildWorkflow(
  input: SubmitWorkflowInput,
  run: { id?: string; idempotencyKey?: string } = {},
): NewWorkflow {
  const workflowId = run.id ?? uuidv7();
  const nodes = input.tasks.map((t, i) => ({ input: t, task: prepareNode(t, i, workflowId) }));
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
      if (!parent) throw new ValidationError(`${field}: no task has the key "${parentKey}"`, field);
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
        ...prepareAt(input.on_failure, 'on_failure'),
        workflowId,
        workflowKey: ON_FAILURE_KEY,
        // Never released by parents: only a failure releases it (the trigger in 0013).
        waitingOn: 1,
      }
    : null;
  return {
    id: workflowId,
    name: input.name ?? null,
    idempotencyKey: run.idempotencyKey ?? input.idempotency_key ?? null,
    nodes: nodes.map((n) => n.task),
    edges,
    onFailure,
  };
}

function prepareNode(t: WorkflowTaskInput, index: number, workflowId: string): NewTask {
  const { key, depends_on: _dependsOn, ...fields } = t;
  return { ...prepareAt(fields, `tasks.${index}`), workflowId, workflowKey: key };
}

/** prepareTask, with the field of its errors placed under `at` (`tasks.3.command`). */
function prepareAt(fields: Parameters<typeof prepareTask>[0], at: string): NewTask {
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
