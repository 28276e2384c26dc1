/**
 * On a task's page: the workflow the task belongs to (its `workflow_id`), its key there, and
 * what it waits for: the parents that have not succeeded yet, or the children still running.
 */
import { Fragment, type ReactNode } from 'react';
import { api } from '../../api';
import { usePoll } from '../../hooks';
import { Link } from '../../router';
import { isTerminal, type Task, type Workflow, type WorkflowTask } from '../../types';
import { nodeName, taskPath } from '../workflows/text';

export function WorkflowOfTask(props: { task: Task }): ReactNode {
  const { task } = props;
  const id = task.workflow_id ?? null;
  // Read again when the task's status changes, so what it waits for stays current.
  const graph = usePoll(
    () =>
      id ? api<Workflow>('GET', `/v1/workflows/${encodeURIComponent(id)}`) : Promise.resolve(null),
    0,
    [id, task.status],
  );
  const wf = graph.data;
  const node = wf?.tasks?.find((t) => t.task_id === task.id);
  if (!wf || !node) return null;
  const byKey = new Map<string, WorkflowTask>();
  for (const t of wf.tasks ?? []) if (t.key !== null && !t.parent_task_id) byKey.set(t.key, t);
  const spawner = node.parent_task_id
    ? wf.tasks?.find((t) => t.task_id === node.parent_task_id)
    : undefined;
  const link = (t: WorkflowTask): ReactNode => (
    <Link to={taskPath(t)}>
      <code>{nodeName(t)}</code>
    </Link>
  );
  const unfinishedParents = node.depends_on
    .map((k) => byKey.get(k))
    .filter((t): t is WorkflowTask => t !== undefined && t.status !== 'succeeded');
  const children = (wf.tasks ?? []).filter((t) => t.parent_task_id === node.task_id);
  const ended = children.filter((t) => isTerminal(t.status));

  return (
    <div className="callout info workflow-of-task">
      Part of workflow <Link to={`workflows/${wf.id}`}>{wf.name ?? 'unnamed'}</Link> ({wf.status})
      as <code>{nodeName(node)}</code>
      {spawner ? <>, spawned by {link(spawner)}</> : null}
      {node.status === 'blocked' && unfinishedParents.length > 0 ? (
        <>
          ; it starts once{' '}
          {unfinishedParents.map((p, i) => (
            <Fragment key={p.task_id}>
              {i > 0 ? ', ' : ''}
              {link(p)}
            </Fragment>
          ))}{' '}
          {unfinishedParents.length === 1 ? 'has' : 'have'} succeeded
        </>
      ) : null}
      {node.status === 'waiting' ? (
        <>
          ; it runs again once its {children.length} children have ended ({ended.length} have)
        </>
      ) : null}
      .
    </div>
  );
}
