/**
 * One task, live from /v1/tasks/:id/events: its input and output, attempts, progress, a
 * timeline of its timestamps, and the cancel, run-now and retry actions.
 */
import { useEffect, useState, type ReactNode } from 'react';
import { ApiError, api } from '../api';
import { duration, json, relative } from '../format';
import { useNow, usePoll } from '../hooks';
import { watchTask } from '../live';
import { Link } from '../router';
import type { Attempt, Task, TaskStatus, Worker } from '../types';
import {
  ActionButton,
  Card,
  Empty,
  ErrorNote,
  Field,
  Loading,
  PageHeader,
  StatusBadge,
  Time,
} from '../ui';
import { WorkflowOfTask } from './tasks/workflow-link';

/** What a cancel applies to (as the API has it): every task that has not ended. */
const CANCELLABLE: readonly TaskStatus[] = ['blocked', 'waiting', 'pending', 'running'];

/** "Run now" for a pending task while its run_at is ahead; re-renders alone, each second. */
function RunNow(props: { runAt: string; run: () => Promise<void> }): ReactNode {
  const now = useNow(1000);
  return Date.parse(props.runAt) > now ? (
    <ActionButton label="Run now" kind="primary" run={props.run} />
  ) : null;
}

export function TaskDetail(props: { id: string }): ReactNode {
  const { id } = props;
  // Follows the task's event stream; polls only while the stream is not open.
  const [streaming, setStreaming] = useState(false);
  const loaded = usePoll(
    () => api<Task>('GET', `/v1/tasks/${encodeURIComponent(id)}`),
    streaming ? 0 : 3000,
    [id],
  );
  const workers = usePoll(() => api<{ items: Worker[] }>('GET', '/v1/workers'), 10_000, []);
  const [live, setLive] = useState<Task | null>(null);
  const [progress, setProgress] = useState<{ percent: number; message: string } | null>(null);

  useEffect(() => {
    setLive(null);
    setProgress(null);
    return watchTask(
      id,
      (t) => setLive((cur) => (cur && cur.updated_at > t.updated_at ? cur : t)),
      (p) => setProgress({ percent: p.percent, message: p.message }),
      () => loaded.reload(),
      setStreaming,
    );
    // The stream depends on the id only; reload is stable.
  }, [id, loaded.reload]);

  const base = loaded.data;
  const task = live && (!base || live.updated_at >= base.updated_at) ? live : base;

  if (!task) {
    if (loaded.error instanceof ApiError && loaded.error.status === 404)
      return (
        <>
          <PageHeader title="Task" />
          <Empty title={`No task with id ${id}`}>
            It may have been deleted by retention, or the id is mistyped.{' '}
            <Link to="tasks">Back to the tasks</Link>
          </Empty>
        </>
      );
    return (
      <>
        <PageHeader title="Task" />
        <ErrorNote error={loaded.error} what="Could not load the task" />
        {loaded.loading ? <Loading /> : null}
      </>
    );
  }

  const names = new Map((workers.data?.items ?? []).map((w) => [w.id, w.name]));
  const act = (verb: 'cancel' | 'retry' | 'run-now') => async (): Promise<void> => {
    const t = await api<Task>('POST', `/v1/tasks/${task.id}/${verb}`);
    setLive((cur) => (cur && cur.updated_at > t.updated_at ? cur : { ...task, ...t }));
  };
  const shownProgress = task.status === 'running' ? (progress ?? task.progress) : task.progress;

  return (
    <>
      <PageHeader title="Task">
        {CANCELLABLE.includes(task.status) ? (
          <ActionButton label="Cancel" kind="danger" run={act('cancel')} />
        ) : null}
        {task.status === 'pending' ? <RunNow runAt={task.run_at} run={act('run-now')} /> : null}
        {task.status === 'dead' || task.status === 'cancelled' ? (
          <ActionButton label="Retry" kind="primary" run={act('retry')} />
        ) : null}
      </PageHeader>
      <div className="detail-head">
        <StatusBadge status={task.status} />
        <code className="command">{task.command}</code>
        <span className="muted mono" title="Task id">
          {task.id}
        </span>
      </div>
      <WorkflowOfTask task={task} />
      {task.waiting_for ? (
        <div className="callout" data-field="waiting-for">
          Waiting: {task.waiting_for}
        </div>
      ) : null}
      {task.status === 'running' || shownProgress ? (
        <ProgressBar
          percent={shownProgress?.percent ?? null}
          message={shownProgress?.message ?? ''}
          done={task.status !== 'running'}
        />
      ) : null}
      <div className="grid">
        <Card title="Details">
          <dl className="fields">
            <Field label="Queue">
              <Link to={`tasks?queue=${encodeURIComponent(task.queue)}`}>{task.queue}</Link>
            </Field>
            <Field label="Attempt">
              {task.attempt} of {task.max_attempts}
            </Field>
            <Field label="Priority">{task.priority}</Field>
            <Field label="Worker">
              {task.worker_id ? <WorkerName id={task.worker_id} names={names} /> : '—'}
            </Field>
            <Field label="Executor">{task.executor ?? '—'}</Field>
            <Field label="Timeout">{task.timeout_ms ? duration(task.timeout_ms) : 'none'}</Field>
            <Field label="Backoff">
              {duration(task.backoff_ms)} doubling, up to {duration(task.backoff_max_ms)}
            </Field>
            <Field label="Idempotency key">{task.idempotency_key ?? '—'}</Field>
            <Field label="Concurrency key">{task.concurrency_key ?? '—'}</Field>
            <Field label="Requires">
              {task.requires && Object.keys(task.requires).length ? (
                <span className="tags" data-field="requires">
                  {Object.entries(task.requires).map(([k, v]) => (
                    <span
                      key={k}
                      className="tag label"
                      title="Only a worker with this label takes it"
                    >
                      {k}={v}
                    </span>
                  ))}
                </span>
              ) : (
                'any worker'
              )}
            </Field>
            <Field label="Rate key">{task.rate_key ?? '—'}</Field>
            <Field label="Group">{task.group ?? '—'}</Field>
            <Field label="Sticky key">
              {task.sticky_key ? (
                <span title="Prefers the worker that ran this key's last task">
                  {task.sticky_key}
                </span>
              ) : (
                '—'
              )}
            </Field>
          </dl>
        </Card>
        <Card title="Timeline">
          <Timeline task={task} />
        </Card>
        <Card title="Payload">
          <pre className="json">{task.payload === null ? 'null' : json(task.payload)}</pre>
        </Card>
        <Card title={task.error ? 'Error' : 'Result'}>
          {task.error ? (
            <pre className="json error-text">{task.error}</pre>
          ) : task.result === null || task.result === undefined ? (
            <p className="muted">
              {task.status === 'succeeded' ? 'The handler returned nothing.' : 'No result yet.'}
            </p>
          ) : (
            <pre className="json">{json(task.result)}</pre>
          )}
          {task.error && task.result !== null && task.result !== undefined ? (
            <pre className="json">{json(task.result)}</pre>
          ) : null}
        </Card>
        <Card title="Attempts" className="wide">
          <Attempts task={task} names={names} />
        </Card>
      </div>
    </>
  );
}

function WorkerName(props: { id: string; names: Map<string, string> }): ReactNode {
  const name = props.names.get(props.id);
  return (
    <Link to="workers" title={props.id}>
      {name ?? props.id.slice(0, 8)}
    </Link>
  );
}

function ProgressBar(props: { percent: number | null; message: string; done: boolean }): ReactNode {
  const pct = props.percent === null ? null : Math.max(0, Math.min(100, props.percent));
  return (
    <div className="progress-box">
      <div
        className={`progress ${pct === null ? 'indeterminate' : ''} ${props.done ? 'done' : ''}`}
        role="progressbar"
        aria-valuenow={pct ?? undefined}
        aria-valuemin={0}
        aria-valuemax={100}
      >
        <div className="progress-fill" style={{ width: pct === null ? '30%' : `${pct}%` }} />
      </div>
      <span className="progress-text">
        {pct === null ? 'running, no progress reported' : `${Math.round(pct)}%`}
        {props.message ? ` — ${props.message}` : ''}
      </span>
    </div>
  );
}

function Timeline(props: { task: Task }): ReactNode {
  const t = props.task;
  const now = useNow(1000);
  const created = Date.parse(t.created_at);
  const steps: Array<{ label: string; at: string | null; kind: string }> = [
    { label: 'created', at: t.created_at, kind: 'created' },
    { label: 'run at', at: t.run_at, kind: 'due' },
    { label: 'picked', at: t.picked_at, kind: 'picked' },
    { label: 'started', at: t.started_at, kind: 'started' },
    { label: 'completed', at: t.completed_at, kind: 'succeeded' },
    { label: 'failed', at: t.failed_at, kind: 'failed' },
    { label: 'cancelled', at: t.cancelled_at, kind: 'cancelled' },
  ];
  const set = steps
    .filter((s): s is { label: string; at: string; kind: string } => s.at !== null)
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const unset = steps.filter((s) => s.at === null && s.kind !== 'failed' && s.kind !== 'cancelled');
  return (
    <ol className="timeline">
      {set.map((s) => {
        const at = Date.parse(s.at);
        return (
          <li key={s.label} className={`step-${s.kind} ${at > now ? 'future' : ''}`}>
            <span className="dot" />
            <span className="step-label">{s.label}</span>
            <span className="step-time">
              <Time at={s.at} ms />
            </span>
            <span className="step-delta">
              {s.kind === 'created' ? relative(s.at, now) : `+${duration(at - created)}`}
              {at > now ? ` (${relative(s.at, now)})` : ''}
            </span>
          </li>
        );
      })}
      {t.status === 'pending' || t.status === 'running'
        ? unset.map((s) => (
            <li key={s.label} className="pending-step">
              <span className="dot" />
              <span className="step-label">{s.label}</span>
              <span className="step-time">not yet</span>
            </li>
          ))
        : null}
    </ol>
  );
}

function Attempts(props: { task: Task; names: Map<string, string> }): ReactNode {
  const t = props.task;
  const now = useNow(1000);
  const finished = t.attempts ?? [];
  // The attempt in progress is not in the list until it finishes: show it from the task.
  const list: Attempt[] =
    t.status === 'running' && !finished.some((a) => a.attempt === t.attempt)
      ? [
          ...finished,
          {
            attempt: t.attempt,
            worker_id: t.worker_id,
            picked_at: t.picked_at,
            started_at: t.started_at,
            finished_at: '',
            outcome: 'running',
            error: null,
          },
        ]
      : finished;
  if (list.length === 0)
    return (
      <Empty title="No attempt yet">
        {t.status === 'pending'
          ? 'Attempts appear here once a worker picks the task.'
          : 'The task ended before any attempt ran.'}
      </Empty>
    );
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th className="num">#</th>
            <th>Worker</th>
            <th>Picked</th>
            <th>Started</th>
            <th>Finished</th>
            <th className="num">Duration</th>
            <th>Outcome</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {list.map((a) => (
            <tr key={a.attempt}>
              <td className="num">{a.attempt}</td>
              <td>{a.worker_id ? <WorkerName id={a.worker_id} names={props.names} /> : '—'}</td>
              <td>
                <Time at={a.picked_at} ms />
              </td>
              <td>
                <Time at={a.started_at} ms />
              </td>
              <td>
                <Time at={a.finished_at || null} ms />
              </td>
              <td className="num">
                {duration(
                  (a.finished_at ? Date.parse(a.finished_at) : now) -
                    Date.parse(a.started_at ?? a.picked_at ?? a.finished_at),
                )}
              </td>
              <td>
                <StatusBadge status={a.outcome} />
              </td>
              <td className="error-text">{a.error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
