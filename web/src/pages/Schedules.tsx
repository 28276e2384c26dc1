/**
 * Schedules: the list with next runs (in each schedule's zone and the browser's), pause,
 * resume and trigger, and a create form. Each name opens the schedule's page.
 */
import { useState, type ReactNode } from 'react';
import { api } from '../api';
import { useNow, usePoll } from '../hooks';
import { Link } from '../router';
import type { Schedule, Task } from '../types';
import { ActionButton, Card, Empty, ErrorNote, Loading, PageHeader, Time } from '../ui';
import { ScheduleForm } from './schedules/form';
import { NextRuns } from './schedules/runs';

export function Schedules(): ReactNode {
  const schedules = usePoll(() => api<{ items: Schedule[] }>('GET', '/v1/schedules'), 5000, []);
  const now = useNow(1000);
  const [triggered, setTriggered] = useState<{ name: string; task: Task } | null>(null);
  const items = schedules.data?.items ?? [];

  const act = (s: Schedule, verb: 'pause' | 'resume') => async (): Promise<void> => {
    await api<Schedule>('POST', `/v1/schedules/${encodeURIComponent(s.id)}/${verb}`);
    schedules.reload();
  };
  const trigger = (s: Schedule) => async (): Promise<void> => {
    const task = await api<Task>('POST', `/v1/schedules/${encodeURIComponent(s.id)}/trigger`);
    setTriggered({ name: s.name, task });
    schedules.reload();
  };

  return (
    <>
      <PageHeader title="Schedules" />
      <ErrorNote error={schedules.error} what="Could not load the schedules" />
      {triggered ? (
        <div className="callout ok" role="status">
          Triggered <strong>{triggered.name}</strong>: task{' '}
          <Link to={`tasks/${triggered.task.id}`}>{triggered.task.id}</Link>
        </div>
      ) : null}
      {!schedules.data ? (
        schedules.loading ? (
          <Loading />
        ) : null
      ) : items.length === 0 ? (
        <Empty title="No schedules yet">
          Create one below: a name, a cron expression and the command each tick submits.
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="schedules">
            <thead>
              <tr>
                <th>Name</th>
                <th>Cron</th>
                <th>Command</th>
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
                  <td className="command" title={s.command}>
                    <code>{s.command}</code>
                  </td>
                  <td>{s.queue}</td>
                  <td>
                    {s.paused || !s.next_run_at ? (
                      <span className="muted">paused</span>
                    ) : (
                      <NextRuns runs={s.next_runs} zone={s.timezone} now={now} limit={3} />
                    )}
                  </td>
                  <td>
                    {s.last_run_at ? (
                      s.last_task_id ? (
                        <Link to={`tasks/${s.last_task_id}`}>
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
                        title="Run the command once now"
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
