/**
 * Submitting a task from the dashboard (POST /v1/tasks): command, queue, when to run (in the
 * browser's zone, said beside the field), a JSON payload checked as it is typed, priority and
 * max attempts. The API's own errors are shown under the field they name.
 */
import { useState, type FormEvent, type ReactNode } from 'react';
import { api, errorMessage } from '../../api';
import { LOCAL_ZONE, fromLocalInput, jsonError, zoneLabel } from '../../format';
import { navigate } from '../../router';
import type { Queue, Task } from '../../types';
import { Dialog, FormActions, FormField, errorField } from '../../ui';

const FIELDS = ['command', 'queue', 'run_at', 'payload', 'priority', 'max_attempts'] as const;
type FieldName = (typeof FIELDS)[number];

export function SubmitTaskDialog(props: { queues: Queue[]; onClose: () => void }): ReactNode {
  const [values, setValues] = useState<Record<FieldName, string>>({
    command: '',
    queue: '',
    run_at: '',
    payload: '',
    priority: '',
    max_attempts: '',
  });
  const [errors, setErrors] = useState<Partial<Record<FieldName | 'form', string>>>({});
  const [busy, setBusy] = useState(false);
  const payloadError = jsonError(values.payload);
  const set = (k: FieldName, v: string): void => {
    setValues((old) => ({ ...old, [k]: v }));
    if (errors[k]) setErrors((e) => ({ ...e, [k]: undefined }));
  };

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    if (payloadError) return;
    const body: Record<string, unknown> = { command: values.command };
    if (values.queue.trim()) body.queue = values.queue.trim();
    if (values.run_at) body.run_at = fromLocalInput(values.run_at) ?? values.run_at;
    if (values.payload.trim()) body.payload = JSON.parse(values.payload) as unknown;
    // Numbers go as typed, so the API's own rule ("must be an integer") is the one shown.
    for (const k of ['priority', 'max_attempts'] as const) {
      if (values[k].trim()) body[k] = Number(values[k]);
    }
    setBusy(true);
    setErrors({});
    api<Task>('POST', '/v1/tasks', body).then(
      (task) => {
        setBusy(false);
        props.onClose();
        navigate(`tasks/${task.id}`);
      },
      (err: unknown) => {
        setBusy(false);
        setErrors({ [errorField(err, FIELDS) ?? 'form']: errorMessage(err) });
      },
    );
  };

  const runAtMs = values.run_at ? Date.parse(values.run_at) : Date.now();
  const field = (
    k: FieldName,
    label: string,
    input: ReactNode,
    hint?: string,
    error = errors[k],
  ): ReactNode => (
    <FormField label={label} error={error} hint={hint}>
      {input}
    </FormField>
  );
  const text = (k: FieldName, placeholder: string, type = 'text'): ReactNode => (
    <input
      name={k}
      type={type}
      placeholder={placeholder}
      value={values[k]}
      aria-invalid={Boolean(errors[k])}
      onChange={(e) => set(k, e.target.value)}
    />
  );

  return (
    <Dialog title="Submit a task" onClose={props.onClose} className="submit-task">
      <form className="form" onSubmit={submit} noValidate>
        {field(
          'command',
          'Command',
          text('command', 'resize photo.png'),
          'the first word names the handler',
        )}
        {field(
          'queue',
          'Queue',
          <>
            <input
              name="queue"
              list="submit-queues"
              placeholder="default"
              value={values.queue}
              aria-invalid={Boolean(errors.queue)}
              onChange={(e) => set('queue', e.target.value)}
            />
            <datalist id="submit-queues">
              {props.queues.map((q) => (
                <option key={q.name} value={q.name} />
              ))}
            </datalist>
          </>,
        )}
        {field(
          'run_at',
          `Run at (${LOCAL_ZONE}, ${zoneLabel(runAtMs)})`,
          text('run_at', '', 'datetime-local'),
          'empty: now',
        )}
        {field(
          'priority',
          'Priority',
          text('priority', '0', 'number'),
          'higher runs first, -1000 to 1000',
        )}
        {field(
          'max_attempts',
          'Max attempts',
          text('max_attempts', '3', 'number'),
          "empty: the queue's setting, else 3",
        )}
        <div className="form-span">
          {field(
            'payload',
            'Payload (JSON)',
            <textarea
              name="payload"
              rows={5}
              placeholder='{"width": 800}'
              value={values.payload}
              aria-invalid={Boolean(errors.payload ?? payloadError)}
              onChange={(e) => set('payload', e.target.value)}
            />,
            values.payload.trim() ? 'valid JSON' : 'any JSON; empty: none',
            errors.payload ?? (payloadError ? `payload is ${payloadError}` : undefined),
          )}
        </div>
        <FormActions
          label="Submit task"
          busyLabel="Submitting…"
          busy={busy}
          disabled={Boolean(payloadError)}
          error={errors.form}
          onDiscard={props.onClose}
        />
      </form>
    </Dialog>
  );
}
