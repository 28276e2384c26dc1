/** Queues: depth, age of the oldest due task, limits and group weights (and setting them), pause and resume. */
import { useState, type ReactNode } from 'react';
import { api } from '../api';
import { COLORS, StackedBar } from '../charts';
import { count, duration, rate, weights } from '../format';
import { useDebounced, useLiveEvents, usePoll } from '../hooks';
import { Link } from '../router';
import type { Queue } from '../types';
import { ActionButton, Empty, ErrorNote, Loading, PageHeader } from '../ui';
import { QueueSettingsDialog } from './queues/settings';

/** The rate limits in words: the queue's, then the per-key one; null when neither. */
function rateLimits(q: Queue): string | null {
  const parts = [
    q.rate_limit ? rate(q.rate_limit) : null,
    q.key_rate_limit ? `${rate(q.key_rate_limit)} per key` : null,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : null;
}

/** The concurrency limits in words; null when neither is set. */
function concurrency(q: Queue): string | null {
  const parts = [
    q.concurrency_limit === null ? null : `${count(q.concurrency_limit)} at once`,
    q.key_concurrency_limit === null ? null : `${count(q.key_concurrency_limit)} per key`,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : null;
}

/**
 * A queue's limits, one line each for those that are set (running at once, starts per
 * period, group weights), so that the table stays narrow when most queues have none.
 */
function Limits({ q }: { q: Queue }): ReactNode {
  const lines: Array<[string, string, string, string | null]> = [
    ['running', 'concurrency', 'Most tasks running at once', concurrency(q)],
    ['starts', 'rate-limit', 'Most task starts in a period', rateLimits(q)],
    [
      'weights',
      'group-weights',
      'Weights of groups in the round robin; groups not named weigh 1',
      weights(q.group_weights) || null,
    ],
  ];
  const set = lines.filter(([, , , value]) => value !== null);
  if (set.length === 0) return <span className="muted">none</span>;
  return set.map(([label, col, title, value]) => (
    <div key={col} className="limit-line" title={title}>
      <span className="muted">{label}</span> <span data-col={col}>{value}</span>
    </div>
  ));
}

export function Queues(): ReactNode {
  // Polled (a future task becoming due sends no event) and reloaded on task events.
  const queues = usePoll(() => api<{ items: Queue[] }>('GET', '/v1/queues'), 5000, []);
  const reload = useDebounced(queues.reload, 1000);
  const [editing, setEditing] = useState<Queue | null>(null);
  useLiveEvents(reload);

  const items = queues.data?.items ?? [];
  const max = Math.max(1, ...items.map((q) => q.due + q.scheduled + q.running + q.dead));
  const toggle = (q: Queue) => async (): Promise<void> => {
    await api<Queue>(
      'POST',
      `/v1/queues/${encodeURIComponent(q.name)}/${q.paused ? 'resume' : 'pause'}`,
    );
    queues.reload();
  };

  return (
    <>
      <PageHeader title="Queues" />
      <ErrorNote error={queues.error} what="Could not load the queues" />
      {!queues.data ? (
        queues.loading ? (
          <Loading />
        ) : null
      ) : items.length === 0 ? (
        <Empty title="No queues yet">
          A queue appears with its first task (the default queue is <code>default</code>) or its
          first setting (<code>PUT /v1/queues/:name</code>).
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="queues">
            <thead>
              <tr>
                <th>Queue</th>
                <th>State</th>
                <th className="num">Due</th>
                <th className="num">Scheduled</th>
                <th className="num">Running</th>
                <th className="num">Dead</th>
                <th>Depth</th>
                <th className="num">Oldest due</th>
                <th className="num" title="Tasks that succeeded / failed in the last minute">
                  Last minute
                </th>
                <th>Limits</th>
                <th>Retries</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {items.map((q) => (
                <tr key={q.name} data-queue={q.name} className={q.paused ? 'paused' : ''}>
                  <td>
                    <Link to={`tasks?queue=${encodeURIComponent(q.name)}`}>{q.name}</Link>
                  </td>
                  <td>
                    <span className={`badge ${q.paused ? 'state-paused' : 'state-active'}`}>
                      {q.paused ? 'paused' : 'active'}
                    </span>
                  </td>
                  <td className="num" data-col="due">
                    {count(q.due)}
                  </td>
                  <td className="num" data-col="scheduled">
                    {count(q.scheduled)}
                  </td>
                  <td className="num" data-col="running">
                    {count(q.running)}
                  </td>
                  <td className="num" data-col="dead">
                    {q.dead > 0 ? (
                      <Link to={`tasks?queue=${encodeURIComponent(q.name)}&status=dead`}>
                        {count(q.dead)}
                      </Link>
                    ) : (
                      0
                    )}
                  </td>
                  <td>
                    <StackedBar
                      max={max}
                      parts={[
                        { label: 'due', value: q.due, color: COLORS.due },
                        { label: 'scheduled', value: q.scheduled, color: COLORS.scheduled },
                        { label: 'running', value: q.running, color: COLORS.running },
                        { label: 'dead', value: q.dead, color: COLORS.dead },
                      ]}
                    />
                  </td>
                  <td className={`num ${(q.oldest_due_age_ms ?? 0) > 60_000 ? 'warn-text' : ''}`}>
                    {q.oldest_due_age_ms === null ? '—' : duration(q.oldest_due_age_ms)}
                  </td>
                  <td className="num" data-col="last-minute">
                    {count(q.succeeded_last_minute)} ok
                    {q.failed_last_minute > 0 ? (
                      <span className="warn-text"> · {count(q.failed_last_minute)} failed</span>
                    ) : null}
                  </td>
                  <td data-col="limits">
                    <Limits q={q} />
                  </td>
                  <td>
                    <div>{q.max_attempts ?? 3} attempts</div>
                    <div className="muted">
                      {duration(q.backoff_ms ?? 1000)} → {duration(q.backoff_max_ms ?? 300_000)}
                    </div>
                  </td>
                  <td className="row-actions">
                    <ActionButton
                      label={q.paused ? 'Resume' : 'Pause'}
                      kind={q.paused ? 'primary' : 'plain'}
                      run={toggle(q)}
                    />
                    <button type="button" className="btn plain" onClick={() => setEditing(q)}>
                      Limits
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {editing ? (
        <QueueSettingsDialog
          queue={editing}
          onSaved={() => queues.reload()}
          onClose={() => setEditing(null)}
        />
      ) : null}
    </>
  );
}
