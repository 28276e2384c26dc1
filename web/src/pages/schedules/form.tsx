/**
 * The schedule form, to create one (POST /v1/schedules) or edit one (PATCH
 * /v1/schedules/:ref, sending only what changed). A schedule starts a task (a command and the
 * task fields) or a workflow (its JSON, the body of POST /v1/workflows); the form shows the
 * fields of the kind chosen. An API error that names a field is shown under that field.
 */
import { useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, api, errorMessage } from '../../api';
import { jsonError } from '../../format';
import type { Schedule } from '../../types';
import { ActionError, FormField, errorField } from '../../ui';

const FIELDS = [
  'name',
  'cron',
  'command',
  'workflow',
  'timezone',
  'queue',
  'priority',
  'max_attempts',
  'payload',
] as const;
type FieldName = (typeof FIELDS)[number];
type Values = Record<FieldName, string>;
type Kind = Schedule['kind'];

/** The fields each kind of schedule has besides name, cron and time zone. */
const KIND_FIELDS: Record<Kind, readonly FieldName[]> = {
  task: ['command', 'queue', 'priority', 'max_attempts', 'payload'],
  workflow: ['workflow'],
};
/** Fields whose text is JSON. */
const JSON_FIELDS: readonly FieldName[] = ['payload', 'workflow'];

const EMPTY: Values = {
  name: '',
  cron: '',
  command: '',
  workflow: '',
  timezone: '',
  queue: '',
  priority: '',
  max_attempts: '',
  payload: '',
};

const jsonText = (v: unknown): string =>
  v === null || v === undefined ? '' : JSON.stringify(v, null, 2);

/** A schedule's fields as the form shows them. */
function valuesOf(s: Schedule): Values {
  return {
    name: s.name,
    cron: s.cron,
    command: s.command ?? '',
    workflow: jsonText(s.workflow),
    timezone: s.timezone,
    queue: s.queue ?? '',
    priority: s.priority === null ? '' : String(s.priority),
    max_attempts: s.max_attempts === null ? '' : String(s.max_attempts),
    payload: jsonText(s.payload),
  };
}

/**
 * The request body: every field of the kind set (create), or only those that changed (edit).
 * An edit that changes the kind sends the new kind's command or workflow.
 */
function bodyOf(values: Values, before: Values | null, kind: Kind): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const shown = FIELDS.filter(
    (k) => !KIND_FIELDS.task.includes(k) && !KIND_FIELDS.workflow.includes(k),
  ).concat(KIND_FIELDS[kind]);
  for (const k of shown) {
    const v = JSON_FIELDS.includes(k) ? values[k] : values[k].trim();
    if (before && v === before[k]) continue;
    if (v === '') {
      // Cleared on edit: back to the default (null where the API has one).
      if (before && (k === 'max_attempts' || k === 'payload')) body[k] = null;
      continue;
    }
    if (JSON_FIELDS.includes(k)) body[k] = JSON.parse(v) as unknown;
    else if (k === 'priority' || k === 'max_attempts') body[k] = Number(v);
    else body[k] = v;
  }
  return body;
}

export function ScheduleForm(props: {
  /** The schedule to edit; a new one when absent. */
  schedule?: Schedule;
  onSaved: (s: Schedule) => void;
  onDiscard?: () => void;
}): ReactNode {
  const before = props.schedule ? valuesOf(props.schedule) : null;
  const [values, setValues] = useState<Values>(before ?? EMPTY);
  const [kind, setKind] = useState<Kind>(props.schedule?.kind ?? 'task');
  const [errors, setErrors] = useState<Partial<Record<FieldName | 'form', string>>>({});
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const payloadError = kind === 'task' ? jsonError(values.payload) : null;
  const workflowError = kind === 'workflow' ? jsonError(values.workflow) : null;

  const set = (k: FieldName, v: string): void => {
    setValues((old) => ({ ...old, [k]: v }));
    setSaved(null);
    if (errors[k]) setErrors((e) => ({ ...e, [k]: undefined }));
  };

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    if (payloadError || workflowError) return;
    const body = bodyOf(values, before, kind);
    if (before && Object.keys(body).length === 0) {
      setErrors({ form: 'Nothing changed.' });
      return;
    }
    setBusy(true);
    setErrors({});
    const request = props.schedule
      ? api<Schedule>('PATCH', `/v1/schedules/${encodeURIComponent(props.schedule.id)}`, body)
      : api<Schedule>('POST', '/v1/schedules', body);
    request.then(
      (s) => {
        setBusy(false);
        if (!props.schedule) setValues(EMPTY);
        setSaved(props.schedule ? 'Saved.' : `Created ${s.name}.`);
        props.onSaved(s);
      },
      (err: unknown) => {
        setBusy(false);
        // A taken name is a 409 that names no field.
        const conflict = err instanceof ApiError && err.code === 'conflict' ? 'name' : null;
        setErrors({ [errorField(err, FIELDS) ?? conflict ?? 'form']: errorMessage(err) });
      },
    );
  };

  const input = (k: FieldName, label: string, placeholder: string, hint?: string): ReactNode => {
    const error =
      errors[k] ??
      (k === 'payload' && payloadError ? `payload is ${payloadError}` : undefined) ??
      (k === 'workflow' && workflowError ? `workflow is ${workflowError}` : undefined);
    return (
      <FormField label={label} error={error} hint={hint}>
        {JSON_FIELDS.includes(k) ? (
          <textarea
            name={k}
            rows={k === 'workflow' ? 10 : 3}
            placeholder={placeholder}
            value={values[k]}
            aria-invalid={Boolean(error)}
            onChange={(e) => set(k, e.target.value)}
          />
        ) : (
          <input
            name={k}
            type={k === 'priority' || k === 'max_attempts' ? 'number' : 'text'}
            placeholder={placeholder}
            value={values[k]}
            aria-invalid={Boolean(error)}
            onChange={(e) => set(k, e.target.value)}
          />
        )}
      </FormField>
    );
  };

  const editing = Boolean(props.schedule);
  return (
    <form className="form" onSubmit={submit} noValidate>
      {input('name', 'Name', 'nightly-report', 'letters, digits, _ . : -')}
      {input('cron', 'Cron', '30 2 * * *', '5 fields, or 6 with seconds first')}
      <FormField label="Starts" hint="what each tick starts">
        <select
          name="kind"
          value={kind}
          onChange={(e) => {
            setKind(e.target.value as Kind);
            setSaved(null);
          }}
        >
          <option value="task">a task</option>
          <option value="workflow">a workflow</option>
        </select>
      </FormField>
      {input('timezone', 'Time zone', 'UTC', 'IANA name, e.g. Europe/Paris')}
      {kind === 'task' ? (
        <>
          {input('command', 'Command', 'report daily', 'the first word names the handler')}
          {input('queue', 'Queue', 'default')}
          {input('priority', 'Priority', '0', 'higher runs first')}
          {input('max_attempts', 'Max attempts', '3', "empty: the queue's setting, else 3")}
          {input('payload', 'Payload (JSON)', '{"format": "pdf"}')}
        </>
      ) : (
        input(
          'workflow',
          'Workflow (JSON)',
          '{"name": "nightly", "tasks": [{"key": "fetch", "command": "fetch"}, {"key": "load", "command": "load", "depends_on": ["fetch"]}]}',
          'the body of POST /v1/workflows, without idempotency_key; its tasks take no run_at',
        )
      )}
      <div className="form-actions">
        <button
          type="submit"
          className="btn primary"
          disabled={busy || Boolean(payloadError) || Boolean(workflowError)}
        >
          {busy
            ? editing
              ? 'Saving…'
              : 'Creating…'
            : editing
              ? 'Save changes'
              : 'Create schedule'}
        </button>
        {props.onDiscard ? (
          <button type="button" className="btn plain" onClick={props.onDiscard}>
            Discard
          </button>
        ) : null}
        <ActionError message={errors.form} />
        {saved ? (
          <span className="ok-text" role="status">
            {saved}
          </span>
        ) : null}
      </div>
    </form>
  );
}
