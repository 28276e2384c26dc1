/**
 * Tasks: a filtered, paged table that follows /v1/events. A status event patches its row at
 * once; then the changed rows are fetched again (debounced), or the first page when new
 * tasks may belong on it.
 */
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, api, errorMessage } from '../api';
import { relative, shortId, timestamp } from '../format';
import { useDebounced, useLiveEvents, useLiveOpen, useNow, usePoll } from '../hooks';
import { Link, navigate, useRoute } from '../router';
import { TASK_STATUSES, type Queue, type Task, type TaskPage } from '../types';
import { Empty, ErrorNote, Loading, PageHeader, StatusBadge } from '../ui';

const RANGES = [
  { key: '', label: 'any time', ms: 0 },
  { key: '5m', label: 'last 5 min', ms: 5 * 60_000 },
  { key: '1h', label: 'last hour', ms: 3_600_000 },
  { key: '24h', label: 'last 24 h', ms: 86_400_000 },
] as const;

const PAGE_SIZE = 50;
/** More changed rows than this in one burst: fetch the page instead of row by row. */
const ROW_REFRESH_MAX = 10;

type Patch = Partial<Task> & { updated_at: string };

export function Tasks(): ReactNode {
  const { query } = useRoute();
  const status = query.get('status') ?? '';
  const queue = query.get('queue') ?? '';
  const command = query.get('command') ?? '';
  const range = RANGES.find((r) => r.key === query.get('since')) ?? RANGES[0];
  const now = useNow(5000);

  // Cursors of the pages before the current one; [] on the first page.
  const [cursors, setCursors] = useState<string[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  useEffect(() => {
    setCursors([]);
    setCursor(null);
  }, [status, queue, command]);

  // Live events keep the page current; without them (a proxy that drops the stream) it polls.
  const liveOpen = useLiveOpen();
  const page = usePoll(
    () => {
      const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (status) q.set('status', status);
      if (queue) q.set('queue', queue);
      if (command) q.set('command', command);
      if (cursor) q.set('cursor', cursor);
      return api<TaskPage>('GET', `/v1/tasks?${q.toString()}`);
    },
    liveOpen ? 0 : 5000,
    [status, queue, command, cursor],
  );
  const queues = usePoll(() => api<{ items: Queue[] }>('GET', '/v1/queues'), 30_000, []);

  // Rows changed since the page was loaded, newest wins by updated_at.
  // Kept across reloads of the page, which may answer with older data than an event's.
  const [patches, setPatches] = useState<Map<string, Patch>>(new Map());
  useEffect(() => setPatches(new Map()), [status, queue, command]);
  const patch = (p: Patch & { id: string }): void =>
    setPatches((m) => {
      const old = m.get(p.id);
      if (old && old.updated_at > p.updated_at) return m;
      const next = new Map(m);
      next.set(p.id, { ...old, ...p });
      return next;
    });

  const rows = (page.data?.items ?? []).map((t) => {
    const p = patches.get(t.id);
    return p && p.updated_at >= t.updated_at ? { ...t, ...p } : t;
  });
  const rowIds = useRef(new Set<string>());
  rowIds.current = new Set(rows.map((r) => r.id));

  const changed = useRef(new Set<string>());
  const newOnFirstPage = useRef(false);
  const flush = useDebounced(() => {
    const ids = [...changed.current];
    changed.current.clear();
    if (newOnFirstPage.current || ids.length > ROW_REFRESH_MAX) {
      newOnFirstPage.current = false;
      page.reload();
      return;
    }
    for (const id of ids) {
      api<Task>('GET', `/v1/tasks/${id}`).then(patch, () => undefined);
    }
  }, 300);

  useLiveEvents((e) => {
    if (e.type === 'resync') {
      page.reload();
      return;
    }
    if (e.type !== 'status') return;
    const d = e.data;
    if (rowIds.current.has(d.task_id)) {
      patch({ id: d.task_id, status: d.status, attempt: d.attempt, updated_at: d.at });
      changed.current.add(d.task_id);
      flush();
    } else if (
      cursors.length === 0 &&
      (!queue || d.queue === queue) &&
      (!status || d.status === status)
    ) {
      newOnFirstPage.current = true;
      flush();
    }
  });

  const setFilter = (k: string, v: string): void => {
    const q = new URLSearchParams(query);
    if (v) q.set(k, v);
    else q.delete(k);
    const s = q.toString();
    navigate(`tasks${s ? `?${s}` : ''}`, { replace: true });
  };

  const shown = range.ms ? rows.filter((t) => Date.parse(t.created_at) >= now - range.ms) : rows;
  const filtered = status || queue || command || range.ms;

  return (
    <>
      <PageHeader title="Tasks">
        <IdSearch />
      </PageHeader>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select value={status} onChange={(e) => setFilter('status', e.target.value)}>
            <option value="">all</option>
            {TASK_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Queue
          <select value={queue} onChange={(e) => setFilter('queue', e.target.value)}>
            <option value="">all</option>
            {queue && !queues.data?.items.some((q) => q.name === queue) ? (
              <option value={queue}>{queue}</option>
            ) : null}
            {(queues.data?.items ?? []).map((q) => (
              <option key={q.name} value={q.name}>
                {q.name}
              </option>
            ))}
          </select>
        </label>
        <CommandFilter value={command} onChange={(v) => setFilter('command', v)} />
        <label>
          Created
          <select value={range.key} onChange={(e) => setFilter('since', e.target.value)}>
            {RANGES.map((r) => (
              <option key={r.key} value={r.key}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        {filtered ? (
          <button type="button" className="btn plain" onClick={() => navigate('tasks')}>
            Clear filters
          </button>
        ) : null}
      </form>
      <ErrorNote error={page.error} what="Could not load the tasks" />
      {!page.data ? (
        page.loading ? (
          <Loading />
        ) : null
      ) : shown.length === 0 ? (
        filtered ? (
          <Empty title="No task matches these filters">
            {range.ms && rows.length > 0
              ? `${rows.length} task(s) on this page were created before the time range.`
              : 'Change or clear the filters.'}
          </Empty>
        ) : (
          <Empty title="No tasks yet">
            Submit one with <code>POST /v1/tasks</code>, for example{' '}
            <code>{`curl -X POST ${window.location.origin}/v1/tasks -H 'content-type: application/json' -d '{"command":"echo hi"}'`}</code>
            . It appears here as soon as it is stored.
          </Empty>
        )
      ) : (
        <div className="table-wrap">
          <table className="tasks">
            <thead>
              <tr>
                <th>ID</th>
                <th>Command</th>
                <th>Queue</th>
                <th>Status</th>
                <th className="num">Attempt</th>
                <th>Created</th>
                <th>Run at</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((t) => (
                <tr key={t.id} data-task-id={t.id} className={`row-${t.status}`}>
                  <td className="mono">
                    <Link to={`tasks/${t.id}`} title={t.id}>
                      {shortId(t.id)}
                    </Link>
                  </td>
                  <td className="command" title={t.command}>
                    {t.command}
                  </td>
                  <td>{t.queue}</td>
                  <td>
                    <StatusBadge status={t.status} />
                  </td>
                  <td className="num">
                    {t.attempt}/{t.max_attempts}
                  </td>
                  <td title={timestamp(t.created_at, true)}>{relative(t.created_at, now)}</td>
                  <td title={timestamp(t.run_at, true)}>{relative(t.run_at, now)}</td>
                  <td title={timestamp(t.updated_at, true)}>{relative(t.updated_at, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page.data && (cursors.length > 0 || page.data.next_cursor) ? (
        <nav className="pager">
          <button
            type="button"
            className="btn plain"
            disabled={cursors.length === 0}
            onClick={() => {
              setCursor(cursors.at(-1) || null);
              setCursors(cursors.slice(0, -1));
            }}
          >
            ← Newer
          </button>
          <span>Page {cursors.length + 1}</span>
          <button
            type="button"
            className="btn plain"
            disabled={!page.data.next_cursor}
            onClick={() => {
              setCursors([...cursors, cursor ?? '']);
              setCursor(page.data?.next_cursor ?? null);
            }}
          >
            Older →
          </button>
        </nav>
      ) : null}
    </>
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The task submitted with an idempotency key. @throws ApiError 404 when there is none */
async function byKey(key: string): Promise<Task> {
  const q = new URLSearchParams({ idempotency_key: key, limit: '1' });
  const page = await api<TaskPage>('GET', `/v1/tasks?${q.toString()}`);
  const t = page.items[0];
  if (!t) throw new ApiError(404, 'not_found', `No task with idempotency key ${key}.`);
  return t;
}

/** Opens a task by its id, or by its idempotency key (which may look like an id too). */
function IdSearch(): ReactNode {
  const [id, setId] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const want = id.trim();
    if (!want) return;
    setBusy(true);
    setError(null);
    // A task id opens that task; anything else is looked up as an idempotency key.
    const found = UUID.test(want)
      ? api<Task>('GET', `/v1/tasks/${encodeURIComponent(want)}`).catch((err: unknown) => {
          if (err instanceof ApiError && err.status === 404) return byKey(want);
          throw err;
        })
      : byKey(want);
    found.then(
      (t) => {
        setBusy(false);
        navigate(`tasks/${t.id}`);
      },
      (err: unknown) => {
        setBusy(false);
        setError(
          err instanceof ApiError && err.status === 404
            ? `No task with id or idempotency key ${want}.`
            : errorMessage(err),
        );
      },
    );
  };
  return (
    <form className="search" onSubmit={submit} role="search">
      <input
        type="search"
        aria-label="Task id or idempotency key"
        placeholder="Task id or idempotency key"
        value={id}
        onChange={(e) => setId(e.target.value)}
      />
      <button type="submit" className="btn plain" disabled={busy}>
        Open
      </button>
      {error ? (
        <span className="action-error" role="alert">
          {error}
        </span>
      ) : null}
    </form>
  );
}
