/**
 * Workers: live ones first, silent and disconnected ones marked; polled every 2 s. Each row
 * has the worker's labels and version, and a link to the tasks that ran on it.
 */
import type { ReactNode } from 'react';
import { api } from '../api';
import { Meter } from '../charts';
import { shortId } from '../format';
import { useNow, usePoll } from '../hooks';
import { Link } from '../router';
import type { Worker } from '../types';
import { Empty, ErrorNote, Loading, PageHeader, Time } from '../ui';

const ORDER = { live: 0, silent: 1, disconnected: 2 } as const;

const STATE_TEXT = {
  live: 'live',
  silent: 'silent: no heartbeat for 5 s or more; gets no new tasks',
  disconnected: 'disconnected: its stream closed',
} as const;

export function Workers(): ReactNode {
  const workers = usePoll(() => api<{ items: Worker[] }>('GET', '/v1/workers'), 2000, []);
  const now = useNow(1000);
  const items = [...(workers.data?.items ?? [])].sort(
    (a, b) => ORDER[a.state] - ORDER[b.state] || a.name.localeCompare(b.name),
  );
  const live = items.filter((w) => w.state === 'live');
  const down = items.length - live.length;

  return (
    <>
      <PageHeader title="Workers">
        {workers.data ? (
          <span className="muted">
            {live.length} live
            {down > 0 ? `, ${down} silent or disconnected` : ''} ·{' '}
            {live.reduce((n, w) => n + w.running, 0)} of{' '}
            {live.reduce((n, w) => n + w.concurrency, 0)} slots busy
          </span>
        ) : null}
      </PageHeader>
      <ErrorNote error={workers.error} what="Could not load the workers" />
      {!workers.data ? (
        workers.loading ? (
          <Loading />
        ) : null
      ) : items.length === 0 ? (
        <Empty title="No workers seen in the last hour">
          Start one with <code>taskq worker --coordinator HOST:50051 --handlers ./handlers.js</code>
          . Tasks wait as <em>pending</em> until a worker that handles their command connects.
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="workers">
            <thead>
              <tr>
                <th>Worker</th>
                <th>State</th>
                <th>Handles</th>
                <th>Queues</th>
                <th>Running</th>
                <th>Last heartbeat</th>
                <th>Connected</th>
                <th>Labels</th>
                <th>Version</th>
                <th>Tasks</th>
              </tr>
            </thead>
            <tbody>
              {items.map((w) => (
                <tr key={w.id} data-worker={w.name} className={`worker-${w.state}`}>
                  <td>
                    <strong>{w.name}</strong>
                    <div className="muted mono" title={w.id}>
                      {shortId(w.id)}
                    </div>
                  </td>
                  <td>
                    <span className={`badge worker-state-${w.state}`} title={STATE_TEXT[w.state]}>
                      {w.state === 'live' ? 'live' : `✕ ${w.state}`}
                    </span>
                  </td>
                  <td>
                    <div className="tags">
                      {w.handlers.map((h) => (
                        <span key={h} className="tag">
                          {h}
                        </span>
                      ))}
                      {w.accepts_any_command ? (
                        <span
                          className="tag shell"
                          title="--allow-shell: runs any other command as a shell line"
                        >
                          any command (shell)
                        </span>
                      ) : null}
                      {w.handlers.length === 0 && !w.accepts_any_command ? (
                        <span className="muted">none</span>
                      ) : null}
                    </div>
                  </td>
                  <td>{w.queues.length ? w.queues.join(', ') : 'all'}</td>
                  <td>
                    <div className="running-cell">
                      <Meter
                        value={w.running}
                        max={w.concurrency}
                        label={`${w.running} of ${w.concurrency} slots`}
                      />
                      <span>
                        {w.running} / {w.concurrency}
                      </span>
                    </div>
                  </td>
                  <td>
                    <Time at={w.last_seen_at} now={now} />
                  </td>
                  <td>
                    {w.state === 'disconnected' && w.disconnected_at ? (
                      <>
                        left <Time at={w.disconnected_at} now={now} />
                      </>
                    ) : (
                      <>
                        since <Time at={w.first_seen_at} now={now} />
                      </>
                    )}
                  </td>
                  <td data-col="labels">
                    <div className="tags">
                      {Object.entries(w.labels).map(([k, v]) => (
                        <span key={k} className="tag label" title={`${k}=${v}`}>
                          {k}={v}
                        </span>
                      ))}
                      {Object.keys(w.labels).length === 0 ? (
                        <span className="muted">none</span>
                      ) : null}
                    </div>
                  </td>
                  <td className="muted" data-col="version">
                    {w.version ?? '—'}
                  </td>
                  <td>
                    <Link
                      to={`tasks?worker=${encodeURIComponent(w.id)}`}
                      title={`The tasks whose latest attempt ran on ${w.name}`}
                    >
                      Recent tasks
                    </Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
