/** How workflows and their tasks are named and linked, on every workflow page. */
import { count } from '../../format';
import { TASK_STATUSES, type TaskStatus, type WorkflowTask } from '../../types';

/** The page of a task of a workflow (which links back to the workflow). */
export function taskPath(task: WorkflowTask): string {
  return `tasks/${task.task_id}`;
}

/** "990 succeeded, 10 running", in the order of a task's life. */
export function countsText(counts: Partial<Record<TaskStatus, number>>): string {
  return TASK_STATUSES.filter((s) => counts[s])
    .map((s) => `${count(counts[s] ?? 0)} ${s}`)
    .join(', ');
}

/** What a task is called in its graph: its key, else (a child spawned without one) its command. */
export function nodeName(t: WorkflowTask): string {
  if (t.on_failure) return 'on failure';
  return t.key ?? t.command;
}
