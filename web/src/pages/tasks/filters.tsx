/**
 * The tasks list's filters. They live in the address (a filtered view can be bookmarked or
 * shared) and all run on the server, so a filter finds tasks far beyond the loaded page.
 */
import { useEffect, useState, type ReactNode } from 'react';
import { LOCAL_ZONE, fromLocalInput, shortId, toLocalInput, zoneLabel } from '../../format';
import { navigate, useRoute } from '../../router';
import { TASK_STATUSES, type Queue, type TaskStatus } from '../../types';

/** Preset created windows: the last N milliseconds, computed at each load. */
export const RANGES = [
  { key: '', label: 'any time', ms: 0 },
  { key: '5m', label: 'last 5 min', ms: 5 * 60_000 },
  { key: '1h', label: 'last hour', ms: 3_600_000 },
  { key: '24h', label: 'last 24 h', ms: 86_400_000 },
  { key: 'custom', label: 'between…', ms: 0 },
] as const;

/** The filters in the address. */
export interface TaskFilters {
  status: TaskStatus | '';
  queue: string;
  command: string;
  worker: string;
  /** A preset key of {@link RANGES} ('' for any time). */
  since: (typeof RANGES)[number]['key'];
  /** With `since: 'custom'`: RFC 3339 bounds, either may be empty. */
  createdAfter: string;
  createdBefore: string;
}

export function useTaskFilters(): TaskFilters {
  const { query } = useRoute();
  const status = query.get('status') ?? '';
  const since = RANGES.find((r) => r.key === query.get('since'))?.key ?? '';
  return {
    status: (TASK_STATUSES as readonly string[]).includes(status) ? (status as TaskStatus) : '',
    queue: query.get('queue') ?? '',
    command: query.get('command') ?? '',
    worker: query.get('worker') ?? '',
    since,
    createdAfter: since === 'custom' ? (query.get('created_after') ?? '') : '',
    createdBefore: since === 'custom' ? (query.get('created_before') ?? '') : '',
  };
}

/** A key that changes whenever any filter does. */
export function filterKey(f: TaskFilters): string {
  return JSON.stringify(f);
}

/** Whether any filter is set. */
export function isFiltered(f: TaskFilters): boolean {
  return Boolean(f.status || f.queue || f.command || f.worker || f.since);
}

/** The query parameters of GET /v1/tasks for these filters, at `now`. */
export function filterParams(f: TaskFilters, now: number): URLSearchParams {
  const q = new URLSearchParams();
  if (f.status) q.set('status', f.status);
  if (f.queue) q.set('queue', f.queue);
  if (f.command) q.set('command', f.command);
  if (f.worker) q.set('worker', f.worker);
  const preset = RANGES.find((r) => r.key === f.since);
  if (preset?.ms) q.set('created_after', new Date(now - preset.ms).toISOString());
  if (f.createdAfter) q.set('created_after', f.createdAfter);
  if (f.createdBefore) q.set('created_before', f.createdBefore);
  return q;
}

/** Sets (or, with '', clears) filters in the address. */
export function setFilters(patch: Record<string, string>): void {
  const q = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(patch)) {
    if (v) q.set(k, v);
    else q.delete(k);
  }
  const s = q.toString();
  navigate(`tasks${s ? `?${s}` : ''}`, { replace: true });
}

export function FilterBar(props: {
  filters: TaskFilters;
  queues: Queue[];
  /** The worker filter's name, when the workers list knows it. */
  workerName: string | null;
  /** The API's error about a filter, shown under it. */
  error: { field: string; message: string } | null;
}): ReactNode {
  const f = props.filters;
  const fieldError = (name: string): ReactNode =>
    props.error?.field === name ? (
      <span className="field-error" role="alert">
        {props.error.message}
      </span>
    ) : null;
  return (
    <form className="filters" onSubmit={(e) => e.preventDefault()}>
      <label>
        Status
        <select
          name="status"
          className={f.status ? `status-select status-${f.status}` : ''}
          value={f.status}
          onChange={(e) => setFilters({ status: e.target.value })}
        >
          <option value="">all</option>
          {TASK_STATUSES.map((s) => (
            <option key={s} value={s} className={`status-${s}`}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label>
        Queue
        <select value={f.queue} onChange={(e) => setFilters({ queue: e.target.value })}>
          <option value="">all</option>
          {f.queue && !props.queues.some((q) => q.name === f.queue) ? (
            <option value={f.queue}>{f.queue}</option>
          ) : null}
          {props.queues.map((q) => (
            <option key={q.name} value={q.name}>
              {q.name}
            </option>
          ))}
        </select>
      </label>
      <CommandFilter value={f.command} onChange={(v) => setFilters({ command: v })} />
      <label>
        Created
        <select
          value={f.since}
          onChange={(e) => {
            const since = e.target.value;
            setFilters(
              since === 'custom'
                ? { since, created_after: new Date(Date.now() - 3_600_000).toISOString() }
                : { since, created_after: '', created_before: '' },
            );
          }}
        >
          {RANGES.map((r) => (
            <option key={r.key} value={r.key}>
              {r.label}
            </option>
          ))}
        </select>
      </label>
      {f.since === 'custom' ? (
        <>
          <TimeBound
            label="from"
            name="created_after"
            value={f.createdAfter}
            error={fieldError('created_after')}
          />
          <TimeBound
            label="to"
            name="created_before"
            value={f.createdBefore}
            error={fieldError('created_before')}
          />
        </>
      ) : null}
      {f.worker ? (
        <span className="chip" title={`Worker id ${f.worker}`}>
          worker: {props.workerName ?? shortId(f.worker)}
          <button
            type="button"
            className="chip-clear"
            aria-label="Clear the worker filter"
            onClick={() => setFilters({ worker: '' })}
          >
            ✕
          </button>
        </span>
      ) : null}
      {isFiltered(f) ? (
        <button type="button" className="btn plain" onClick={() => navigate('tasks')}>
          Clear filters
        </button>
      ) : null}
    </form>
  );
}

/** One end of the created window: a local date and time, labelled with the browser's zone. */
function TimeBound(props: {
  label: string;
  name: 'created_after' | 'created_before';
  value: string;
  error: ReactNode;
}): ReactNode {
  const ms = props.value ? Date.parse(props.value) : Date.now();
  return (
    <label className={props.error ? 'invalid' : ''}>
      Created {props.label} ({LOCAL_ZONE}, {zoneLabel(ms)})
      <input
        type="datetime-local"
        name={props.name}
        value={props.value ? toLocalInput(ms) : ''}
        onChange={(e) => setFilters({ [props.name]: fromLocalInput(e.target.value) ?? '' })}
      />
      {props.error}
    </label>
  );
}

/** The command filter applies on Enter or when the field loses focus, not on every key. */
function CommandFilter(props: { value: string; onChange: (v: string) => void }): ReactNode {
  const [text, setText] = useState(props.value);
  useEffect(() => setText(props.value), [props.value]);
  const apply = (): void => {
    if (text.trim() !== props.value) props.onChange(text.trim());
  };
  return (
    <label>
      Command
      <input
        type="search"
        placeholder="handler or full command"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onBlur={apply}
        onKeyDown={(e) => {
          if (e.key === 'Enter') apply();
        }}
      />
    </label>
  );
}
