/** Schedules: the list with next runs, pause, resume and trigger, and a create form. */
import { useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, api, errorMessage } from '../api';
import { relative, timestamp } from '../format';
import { useNow, usePoll } from '../hooks';
import { Link } from '../router';
import type { Schedule, Task } from '../types';
import { ActionButton, Card, Empty, ErrorNote, Loading, PageHeader } from '../ui';

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
                    <strong>{s.name}</strong>
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
                      <>
                        <span title={timestamp(s.next_run_at)}>{relative(s.next_run_at, now)}</span>
                        <ul className="next-runs">
                          {s.next_runs.slice(0, 3).map((r) => (
                            <li key={r}>{timestamp(r)}</li>
                          ))}
                        </ul>
                      </>
                    )}
                  </td>
                  <td>
                    {s.last_run_at ? (
                      <span title={timestamp(s.last_run_at)}>
                        {s.last_task_id ? (
                          <Link to={`tasks/${s.last_task_id}`}>{relative(s.last_run_at, now)}</Link>
                        ) : (
                          relative(s.last_run_at, now)
                        )}
                      </span>
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
      <CreateSchedule onCreated={schedules.reload} />
    </>
  );
}

const FIELDS = ['name', 'cron', 'command', 'timezone', 'queue', 'payload'] as const;
type FieldName = (typeof FIELDS)[number];

/** The create form. An API error that names a field is shown under that field. */
function CreateSchedule(props: { onCreated: () => void }): ReactNode {
  const empty: Record<FieldName, string> = {
    name: '',
    cron: '',
    command: '',
    timezone: '',
    queue: '',
    payload: '',
  };
  const [values, setValues] = useState(empty);
  const [errors, setErrors] = useState<Partial<Record<FieldName | 'form', string>>>({});
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<string | null>(null);

  const set = (k: FieldName, v: string): void => {
    setValues((old) => ({ ...old, [k]: v }));
    if (errors[k]) setErrors((e) => ({ ...e, [k]: undefined }));
  };

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    setCreated(null);
    const body: Record<string, unknown> = {
      name: values.name.trim(),
      cron: values.cron.trim(),
      command: values.command.trim(),
    };
    if (values.timezone.trim()) body.timezone = values.timezone.trim();
    if (values.queue.trim()) body.queue = values.queue.trim();
    if (values.payload.trim()) {
      try {
        body.payload = JSON.parse(values.payload) as unknown;
      } catch {
        setErrors({ payload: 'payload must be JSON, for example {"format": "pdf"}' });
        return;
      }
    }
    setBusy(true);
    setErrors({});
    api<Schedule>('POST', '/v1/schedules', body).then(
      (s) => {
        setBusy(false);
        setValues(empty);
        setCreated(s.name);
        props.onCreated();
      },
      (err: unknown) => {
        setBusy(false);
        const field = err instanceof ApiError ? err.field?.split('.')[0] : undefined;
        if (field && (FIELDS as readonly string[]).includes(field))
          setErrors({ [field]: errorMessage(err) });
        else if (err instanceof ApiError && err.code === 'conflict')
          setErrors({ name: errorMessage(err) });
        else setErrors({ form: errorMessage(err) });
      },
    );
  };

  const input = (k: FieldName, label: string, placeholder: string, hint?: string): ReactNode => (
    <label className={errors[k] ? 'invalid' : ''}>
      {label}
      {k === 'payload' ? (
        <textarea
          name={k}
          rows={3}
          placeholder={placeholder}
          value={values[k]}
          aria-invalid={Boolean(errors[k])}
          onChange={(e) => set(k, e.target.value)}
        />
      ) : (
        <input
          name={k}
          placeholder={placeholder}
          value={values[k]}
          aria-invalid={Boolean(errors[k])}
          onChange={(e) => set(k, e.target.value)}
        />
      )}
      {errors[k] ? (
        <span className="field-error" role="alert">
          {errors[k]}
        </span>
      ) : hint ? (
        <span className="hint">{hint}</span>
      ) : null}
    </label>
  );

  return (
    <Card title="New schedule" className="create">
      <form className="form" onSubmit={submit} noValidate>
        {input('name', 'Name', 'nightly-report', 'letters, digits, _ . : -')}
        {input('cron', 'Cron', '30 2 * * *', '5 fields, or 6 with seconds first')}
        {input('command', 'Command', 'report daily', 'the first word names the handler')}
        {input('timezone', 'Time zone', 'UTC', 'IANA name, e.g. Europe/Paris')}
        {input('queue', 'Queue', 'default')}
        {input('payload', 'Payload (JSON)', '{"format": "pdf"}')}
        <div className="form-actions">
          <button type="submit" className="btn primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create schedule'}
          </button>
          {errors.form ? (
            <span className="action-error" role="alert">
              {errors.form}
            </span>
          ) : null}
          {created ? (
            <span className="ok-text" role="status">
              Created {created}.
            </span>
          ) : null}
        </div>
      </form>
    </Card>
  );
}
