/** A workflow's tasks as a table: every task, filtered by status, 100 to a page. */
import { useState, type ReactNode } from 'react';
import { count, shortId } from '../../format';
import { Link } from '../../router';
import { TASK_STATUSES, type TaskStatus, type WorkflowTask } from '../../types';
import { StatusBadge, Time } from '../../ui';
import { countStatuses } from './layout';
import { nodeName, taskPath } from './text';

const ROWS = 100;

export function WorkflowTasksTable(props: {
  tasks: readonly WorkflowTask[];
  now: number;
}): ReactNode {
  const [status, setStatus] = useState<TaskStatus | ''>('');
  const [page, setPage] = useState(0);
  const counts = countStatuses(props.tasks);
  const byId = new Map(props.tasks.map((t) => [t.task_id, t]));
  const rows = status ? props.tasks.filter((t) => t.status === status) : props.tasks;
  const pages = Math.max(1, Math.ceil(rows.length / ROWS));
  const shown = Math.min(page, pages - 1);
  const link = (t: WorkflowTask, text: ReactNode): ReactNode => (
    <Link to={taskPath(t)} title={t.task_id}>
      {text}
    </Link>
  );

  return (
    <>
      <div className="table-tools">
        <label>
          Status{' '}
          <select
            name="node-status"
            className={status ? `status-select status-${status}` : ''}
            value={status}
            onChange={(e) => {
              setStatus(e.target.value as TaskStatus | '');
              setPage(0);
            }}
          >
            <option value="">all ({count(props.tasks.length)})</option>
            {TASK_STATUSES.filter((s) => counts[s]).map((s) => (
              <option key={s} value={s} className={`status-${s}`}>
                {s} ({count(counts[s] ?? 0)})
              </option>
            ))}
          </select>
        </label>
        {pages > 1 ? (
          <span className="table-pages">
            <button
              type="button"
              className="btn plain small"
              disabled={shown === 0}
              onClick={() => setPage(shown - 1)}
            >
              ←
            </button>
            rows {count(shown * ROWS + 1)}–{count(Math.min(rows.length, (shown + 1) * ROWS))} of{' '}
            {count(rows.length)}
            <button
              type="button"
              className="btn plain small"
              disabled={shown >= pages - 1}
              onClick={() => setPage(shown + 1)}
            >
              →
            </button>
          </span>
        ) : null}
      </div>
      <div className="table-wrap">
        <table className="workflow-tasks">
          <thead>
            <tr>
              <th>Key</th>
              <th>Task</th>
              <th>Status</th>
              <th>Command</th>
              <th>Queue</th>
              <th className="num">Attempt</th>
              <th>Waits for</th>
              <th>Error</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {rows.slice(shown * ROWS, (shown + 1) * ROWS).map((t) => {
              const parent = t.parent_task_id ? byId.get(t.parent_task_id) : undefined;
              return (
                <tr key={t.task_id} data-task-id={t.task_id} className={`row-${t.status}`}>
                  <td>{link(t, nodeName(t))}</td>
                  <td className="mono">{link(t, shortId(t.task_id))}</td>
                  <td>
                    <StatusBadge status={t.status} />
                  </td>
                  <td className="command" title={t.command}>
                    {t.command}
                  </td>
                  <td>{t.queue}</td>
                  <td className="num">{t.attempt}</td>
                  <td>
                    {parent ? (
                      <>spawned by {link(parent, nodeName(parent))}</>
                    ) : t.on_failure ? (
                      <span className="muted">a task that fails</span>
                    ) : (
                      t.depends_on.join(', ') || <span className="muted">nothing</span>
                    )}
                  </td>
                  <td className="last-error" title={t.error ?? undefined}>
                    {t.error ?? ''}
                  </td>
                  <td>
                    <Time at={t.updated_at} now={props.now} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}
