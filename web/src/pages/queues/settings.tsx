/**
 * A queue's limits and group weights (PUT /v1/queues/:name), sending only what changed: the
 * concurrency limits, the rate limits (starts per period, for the queue and per rate key) and
 * the weights of groups in the round robin. An empty field lifts its setting. The API's own
 * errors are shown under the setting they name.
 */
import { useState, type FormEvent, type ReactNode } from 'react';
import { api, errorMessage } from '../../api';
import { weights } from '../../format';
import type { Queue, RateLimit } from '../../types';
import { Dialog, FormActions, FormField, errorField } from '../../ui';

/** The settings as the API names them: an error's field picks the one to show it under. */
const SETTINGS = [
  'concurrency_limit',
  'key_concurrency_limit',
  'rate_limit',
  'key_rate_limit',
  'group_weights',
] as const;
type Setting = (typeof SETTINGS)[number];

type Input =
  | 'concurrency_limit'
  | 'key_concurrency_limit'
  | 'rate_count'
  | 'rate_period_ms'
  | 'key_rate_count'
  | 'key_rate_period_ms'
  | 'group_weights';
type Values = Record<Input, string>;

const text = (n: number | null | undefined): string =>
  n === null || n === undefined ? '' : String(n);

function valuesOf(q: Queue): Values {
  return {
    concurrency_limit: text(q.concurrency_limit),
    key_concurrency_limit: text(q.key_concurrency_limit),
    rate_count: text(q.rate_limit?.count),
    rate_period_ms: text(q.rate_limit?.period_ms),
    key_rate_count: text(q.key_rate_limit?.count),
    key_rate_period_ms: text(q.key_rate_limit?.period_ms),
    group_weights: weights(q.group_weights),
  };
}

/** A number as typed, so the API's own rule ("must be an integer") is the one shown. */
const num = (v: string): number => Number(v.trim());

/** A rate limit from its two fields: null when both are empty; a half is sent for the API to name. */
function rateOf(count: string, period: string): Partial<RateLimit> | null {
  if (!count.trim() && !period.trim()) return null;
  return {
    ...(count.trim() ? { count: num(count) } : {}),
    ...(period.trim() ? { period_ms: num(period) } : {}),
  };
}

/**
 * `gold=3, free=1` as an object, or null when empty.
 * @throws Error saying what to type when a pair is not name=weight.
 */
function weightsOf(v: string): Record<string, number> | null {
  const pairs = v
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (pairs.length === 0) return null;
  const out: Record<string, number> = {};
  for (const pair of pairs) {
    const m = /^(.+?)\s*=\s*(\S+)$/.exec(pair);
    if (!m?.[1] || !m[2])
      throw new Error(`write group=weight, separated by commas (got "${pair}")`);
    out[m[1]] = num(m[2]);
  }
  return out;
}

/** The request body: the settings whose fields changed. */
function bodyOf(values: Values, before: Values): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const changed = (...ks: Input[]): boolean =>
    ks.some((k) => values[k].trim() !== before[k].trim());
  for (const k of ['concurrency_limit', 'key_concurrency_limit'] as const) {
    if (changed(k)) body[k] = values[k].trim() ? num(values[k]) : null;
  }
  if (changed('rate_count', 'rate_period_ms'))
    body.rate_limit = rateOf(values.rate_count, values.rate_period_ms);
  if (changed('key_rate_count', 'key_rate_period_ms'))
    body.key_rate_limit = rateOf(values.key_rate_count, values.key_rate_period_ms);
  if (changed('group_weights')) body.group_weights = weightsOf(values.group_weights);
  return body;
}

/** The form's rows: each setting, its label, its one input (or a rate's two) and its hint. */
const ROWS: Array<{
  setting: Setting;
  label: string;
  inputs: [Input] | [Input, Input];
  placeholder: string;
  hint: string;
}> = [
  {
    setting: 'concurrency_limit',
    label: 'Concurrency limit',
    inputs: ['concurrency_limit'],
    placeholder: 'no limit',
    hint: 'most tasks running at once, on all workers; empty: no limit',
  },
  {
    setting: 'key_concurrency_limit',
    label: 'Per-key concurrency limit',
    inputs: ['key_concurrency_limit'],
    placeholder: 'keys not allowed',
    hint: 'most tasks with the same concurrency_key running at once',
  },
  {
    setting: 'rate_limit',
    label: 'Rate limit',
    inputs: ['rate_count', 'rate_period_ms'],
    placeholder: '',
    hint: 'most task starts in any window (1000 ms: per second); empty: no limit',
  },
  {
    setting: 'key_rate_limit',
    label: 'Per-key rate limit',
    inputs: ['key_rate_count', 'key_rate_period_ms'],
    placeholder: '',
    hint: 'the same, for the tasks of each rate_key',
  },
  {
    setting: 'group_weights',
    label: 'Group weights',
    inputs: ['group_weights'],
    placeholder: 'gold=3, free=1',
    hint: 'gold=3, free=1: three gold tasks to one free in each round; groups not named weigh 1',
  },
];

export function QueueSettingsDialog(props: {
  queue: Queue;
  onSaved: (q: Queue) => void;
  onClose: () => void;
}): ReactNode {
  const before = valuesOf(props.queue);
  const [values, setValues] = useState<Values>(before);
  const [errors, setErrors] = useState<Partial<Record<Setting | 'form', string>>>({});
  const [busy, setBusy] = useState(false);
  const set = (k: Input, v: string): void => setValues((old) => ({ ...old, [k]: v }));

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    let body: Record<string, unknown>;
    try {
      body = bodyOf(values, before);
    } catch (err) {
      setErrors({ group_weights: (err as Error).message });
      return;
    }
    if (Object.keys(body).length === 0) {
      setErrors({ form: 'Nothing changed.' });
      return;
    }
    setBusy(true);
    setErrors({});
    api<Queue>('PUT', `/v1/queues/${encodeURIComponent(props.queue.name)}`, body).then(
      (q) => {
        setBusy(false);
        props.onSaved(q);
        props.onClose();
      },
      (err: unknown) => {
        setBusy(false);
        setErrors({ [errorField(err, SETTINGS) ?? 'form']: errorMessage(err) });
      },
    );
  };

  const input = (k: Input, placeholder: string, label: string): ReactNode => (
    <input
      name={k}
      type={k === 'group_weights' ? 'text' : 'number'}
      min={1}
      placeholder={placeholder}
      aria-label={label}
      value={values[k]}
      onChange={(e) => set(k, e.target.value)}
    />
  );
  const pair = (count: Input, period: Input, what: string): ReactNode => (
    <span className="rate-input">
      {input(count, 'starts', `${what}: starts`)} per {input(period, 'ms', `${what}: period in ms`)}{' '}
      ms
    </span>
  );

  return (
    <Dialog
      title={`Limits of ${props.queue.name}`}
      onClose={props.onClose}
      className="queue-settings"
    >
      <form className="form" onSubmit={submit} noValidate>
        {ROWS.map((r) => {
          const f = (
            <FormField key={r.setting} label={r.label} error={errors[r.setting]} hint={r.hint}>
              {r.inputs.length === 2
                ? pair(r.inputs[0], r.inputs[1], r.label)
                : input(r.inputs[0], r.placeholder, r.label)}
            </FormField>
          );
          return r.setting === 'group_weights' ? (
            <div key={r.setting} className="form-span">
              {f}
            </div>
          ) : (
            f
          );
        })}
        <FormActions
          label="Save"
          busyLabel="Saving…"
          busy={busy}
          error={errors.form}
          onDiscard={props.onClose}
        />
      </form>
    </Dialog>
  );
}
