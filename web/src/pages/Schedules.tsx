/**
 * Schedules: the list with what each starts (a task or a workflow), next runs (in each
 * schedule's zone and the browser's), pause, resume and trigger, and a create form. Each name
 * opens the schedule's page; the last run links to the task or workflow it started.
 */
import { useState, type ReactNode } from 'react';
import { api } from '../api';
import { useNow, usePoll } from '../hooks';
import { Link } from '../router';
import { isWorkflow, type Schedule, type Task, type Workflow } from '../types';
import { ActionButton, Card, Empty, ErrorNote, Loading, PageHeader, Time } from '../ui';
import { ScheduleForm } from './schedules/form';
import { NextRuns } from './schedules/runs';
import { ScheduleStarts, lastRunPath } from './schedules/starts';

export function Schedules(): ReactNode {
  const schedules = usePoll(() => api<{ items: Schedule[] }>('GET', '/v1/schedules'), 5000, []);
  const now = useNow(1000);
  const [triggered, setTriggered] = useState<{ name: string; run: Task | Workflow } | null>(null);
  const items = schedules.data?.items ?? [];

  const act = (s: Schedule, verb: 'pause' | 'resume') => async (): Promise<void> => {
    await api<Schedule>('POST', `/v1/schedules/${encodeURIComponent(s.id)}/${verb}`);
    schedules.reload();
  };
  const trigger = (s: Schedule) => async (): Promise<void> => {
    const run = await api<Task | Workflow>(
      'POST',
      `/v1/schedules/${encodeURIComponent(s.id)}/trigger`,
    );
    setTriggered({ name: s.name, run });
    schedules.reload();
  };

  return (
    <>
      <PageHeader title="Schedules" />
      <ErrorNote error={schedules.error} what="Could not load the schedules" />
      {triggered ? (
        <div className="callout ok" role="status">
          Triggered <strong>{triggered.name}</strong>:{' '}
          {isWorkflow(triggered.run) ? (
            <>
              workflow <Link to={`workflows/${triggered.run.id}`}>{triggered.run.id}</Link>
            </>
          ) : (
            <>
              task <Link to={`tasks/${triggered.run.id}`}>{triggered.run.id}</Link>
            </>
          )}
        </div>
      ) : null}
      {!schedules.data ? (
        schedules.loading ? (
          <Loading />
        ) : null
      ) : items.length === 0 ? (
        <Empty title="No schedules yet">
          Create one below: a name, a cron expression and what each tick starts, a task or a
          workflow.
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="schedules">
            <thead>
              <tr>
                <th>Name</th>
                <th>Cron</th>
                <th>Starts</th>
                <th>Queue</th>
                <th>Next runs</th>
                <th>Last run</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {items.map((s) => (
                <tr key={s.id} data-schedule={s.name} className={s.paused ? 'paused' : ''}>
                  <td>
                    <Link to={`schedules/${encodeURIComponent(s.id)}`}>
                      <strong>{s.name}</strong>
                    </Link>
                    {s.paused ? <span className="badge state-paused">paused</span> : null}
                  </td>
                  <td>
                    <code>{s.cron}</code>
                    <div className="muted">{s.timezone}</div>
                  </td>
                  <td className="command" data-col="starts">
                    <ScheduleStarts schedule={s} />
                  </td>
                  <td>{s.queue ?? <span className="muted">per task</span>}</td>
                  <td>
                    {s.paused || !s.next_run_at ? (
                      <span className="muted">paused</span>
                    ) : (
                      <NextRuns runs={s.next_runs} zone={s.timezone} now={now} limit={3} />
                    )}
                  </td>
                  <td>
                    {s.last_run_at ? (
                      lastRunPath(s) ? (
                        <Link to={lastRunPath(s) as string}>
                          <Time at={s.last_run_at} now={now} />
                        </Link>
                      ) : (
                        <Time at={s.last_run_at} now={now} />
                      )
                    ) : (
                      <span className="muted">never</span>
                    )}
                  </td>
                  <td>
                    <div className="actions">
                      {s.paused ? (
                        <ActionButton label="Resume" kind="primary" run={act(s, 'resume')} />
                      ) : (
                        <ActionButton label="Pause" run={act(s, 'pause')} />
                      )}
                      <ActionButton
                        label="Trigger"
                        run={trigger(s)}
                        title={
                          s.workflow ? 'Start the workflow once now' : 'Run the command once now'
                        }
                      />
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Card title="New schedule" className="create">
        <ScheduleForm onSaved={() => schedules.reload()} />
      </Card>
    </>
  );
}
