/** What a schedule starts at each tick, a task or a workflow, and where a run of it leads. */
import type { ReactNode } from 'react';
import { count } from '../../format';
import type { Schedule } from '../../types';

/** The page of what a run started: its task, or its workflow. */
export function runPath(run: { task_id: string | null; workflow_id: string | null }): string {
  return run.workflow_id ? `workflows/${run.workflow_id}` : `tasks/${run.task_id}`;
}

/** The page of what the schedule's latest run started, if it has run. */
export function lastRunPath(s: Schedule): string | null {
  if (s.last_workflow_id) return `workflows/${s.last_workflow_id}`;
  return s.last_task_id ? `tasks/${s.last_task_id}` : null;
}

/** A schedule's kind and what it starts: `task report daily`, `workflow nightly-etl · 4 tasks`. */
export function ScheduleStarts(props: { schedule: Schedule }): ReactNode {
  const { command, workflow } = props.schedule;
  if (!workflow)
    return (
      <>
        <span className="badge kind-task">task</span>
        <code title={command ?? ''}>{command}</code>
      </>
    );
  const keys = workflow.tasks.map((t) => t.key).join(', ');
  return (
    <>
      <span className="badge kind-workflow">workflow</span>
      {workflow.name ? <strong>{workflow.name}</strong> : null}{' '}
      <span className="muted" title={keys}>
        {count(workflow.tasks.length)} task{workflow.tasks.length === 1 ? '' : 's'}
        {workflow.on_failure ? ', with on_failure' : ''}
      </span>
    </>
  );
}
