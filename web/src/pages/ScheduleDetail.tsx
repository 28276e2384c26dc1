/**
 * One schedule (GET /v1/schedules/:ref): what it starts (a task or a workflow), its settings,
 * next runs in its own time zone and the browser's, the tasks or workflows its recent runs
 * started, and edit (PATCH) and delete (DELETE).
 */
import { useState, type ReactNode } from 'react';
import { ApiError, api } from '../api';
import { json } from '../format';
import { useNow, usePoll } from '../hooks';
import { Link, navigate } from '../router';
import type { Schedule } from '../types';
import {
  ActionButton,
  Card,
  ConfirmDialog,
  Empty,
  ErrorNote,
  Field,
  Loading,
  PageHeader,
  Time,
} from '../ui';
import { ScheduleForm } from './schedules/form';
import { NextRuns } from './schedules/runs';
import { ScheduleStarts, runPath } from './schedules/starts';

export function ScheduleDetail(props: { scheduleRef: string }): ReactNode {
  const path = `/v1/schedules/${encodeURIComponent(props.scheduleRef)}`;
  const loaded = usePoll(() => api<Schedule>('GET', path), 5000, [path]);
  const now = useNow(1000);
  // The schedule as it was when Edit was pressed: polls (a tick moves next_run_at) must not
  // reset what is being typed.
  const [editing, setEditing] = useState<Schedule | null>(null);
  const [deleting, setDeleting] = useState(false);
  const s = loaded.data;

  if (!s) {
    if (loaded.error instanceof ApiError && loaded.error.status === 404)
      return (
        <>
          <PageHeader title="Schedule" />
          <Empty title={`No schedule ${props.scheduleRef}`}>
            It may have been deleted. <Link to="schedules">Back to the schedules</Link>
          </Empty>
        </>
      );
    return (
      <>
        <PageHeader title="Schedule" />
        <ErrorNote error={loaded.error} what="Could not load the schedule" />
        {loaded.loading ? <Loading /> : null}
      </>
    );
  }

  const act = (verb: 'pause' | 'resume' | 'trigger') => async (): Promise<void> => {
    await api('POST', `/v1/schedules/${encodeURIComponent(s.id)}/${verb}`);
    loaded.reload();
  };

  return (
    <>
      <PageHeader title={`Schedule ${s.name}`}>
        {s.paused ? (
          <ActionButton label="Resume" kind="primary" run={act('resume')} />
        ) : (
          <ActionButton label="Pause" run={act('pause')} />
        )}
        <ActionButton
          label="Trigger"
          run={act('trigger')}
          title={s.workflow ? 'Start the workflow once now' : 'Run the command once now'}
        />
        <button type="button" className="btn plain" onClick={() => setEditing(editing ? null : s)}>
          {editing ? 'Stop editing' : 'Edit'}
        </button>
        <button type="button" className="btn danger" onClick={() => setDeleting(true)}>
          Delete
        </button>
      </PageHeader>
      <ErrorNote error={loaded.error} what="Could not refresh the schedule" />
      {deleting ? (
        <ConfirmDialog
          title="Delete schedule"
          message={
            <>
              Delete <strong>{s.name}</strong>? It will not run again. The{' '}
              {s.workflow ? 'workflows' : 'tasks'} it started stay.
            </>
          }
          confirmLabel="Delete"
          kind="danger"
          run={() => api<undefined>('DELETE', `/v1/schedules/${encodeURIComponent(s.id)}`)}
          outcome={() => (
            <p>
              Deleted {s.name}. The {s.workflow ? 'workflows' : 'tasks'} it started stay.
            </p>
          )}
          onClose={(deleted) => {
            setDeleting(false);
            if (deleted) navigate('schedules');
          }}
        />
      ) : null}
      {editing ? (
        <Card title="Edit schedule" className="create">
          <ScheduleForm
            schedule={editing}
            onSaved={() => {
              setEditing(null);
              loaded.reload();
            }}
            onDiscard={() => setEditing(null)}
          />
        </Card>
      ) : null}
      <div className="grid">
        <Card title="Settings">
          <dl className="fields">
            <Field label="Cron">
              <code>{s.cron}</code>
            </Field>
            <Field label="Time zone">{s.timezone}</Field>
            <Field label="Starts">
              <ScheduleStarts schedule={s} />
            </Field>
            {s.queue !== null ? (
              <>
                <Field label="Queue">
                  <Link to={`tasks?queue=${encodeURIComponent(s.queue)}`}>{s.queue}</Link>
                </Field>
                <Field label="Priority">{s.priority}</Field>
                <Field label="Max attempts">{s.max_attempts ?? "the queue's"}</Field>
              </>
            ) : null}
            <Field label="Misfire">{s.misfire}</Field>
            <Field label="State">{s.paused ? 'paused' : 'active'}</Field>
            <Field label="Created">
              <Time at={s.created_at} />
            </Field>
            <Field label="Updated">
              <Time at={s.updated_at} />
            </Field>
          </dl>
        </Card>
        <Card title="Next runs" aside={`${s.timezone} and this browser's zone`}>
          {s.paused ? (
            <p className="muted">Paused: no runs until it is resumed.</p>
          ) : (
            <div className="schedule-next-runs">
              <NextRuns runs={s.next_runs} zone={s.timezone} now={now} />
            </div>
          )}
        </Card>
        {s.workflow ? (
          <Card title="Workflow" aside="what each tick submits, as POST /v1/workflows">
            <pre className="json schedule-workflow">{json(s.workflow)}</pre>
          </Card>
        ) : (
          <Card title="Payload">
            <pre className="json">{s.payload === null ? 'null' : json(s.payload)}</pre>
          </Card>
        )}
        <Card title="Recent runs">
          {(s.recent_runs ?? []).length === 0 ? (
            <Empty title="No runs yet" />
          ) : (
            <ul className="recent-runs">
              {(s.recent_runs ?? []).map((r) => (
                <li key={`${r.tick}-${r.task_id ?? r.workflow_id}`}>
                  <Link to={runPath(r)}>
                    <Time at={r.tick} />
                  </Link>{' '}
                  <span className="muted">
                    {r.workflow_id ? 'workflow, ' : ''}
                    {r.trigger === 'manual' ? 'triggered' : 'cron'}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
    </>
  );
}
