/**
 * Tasks: a table filtered and counted on the server, paged by cursor, that follows
 * /v1/events. A status event patches its row at once; then the changed rows are fetched
 * again (debounced), or the first page when new tasks may belong on it. Rows can be selected
 * for bulk retry and cancel, and a task can be submitted from here.
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError, api } from '../api';
import { count, shortId } from '../format';
import {
  useCursorPages,
  useDebounced,
  useLiveEvents,
  useLiveOpen,
  useNow,
  usePoll,
} from '../hooks';
import { Link } from '../router';
import type { Queue, Task, TaskPage, Worker } from '../types';
import { Empty, ErrorNote, Loading, PageHeader, Pager, StatusBadge, Time } from '../ui';
import { BulkBar } from './tasks/bulk';
import { FilterBar, filterKey, filterParams, isFiltered, useTaskFilters } from './tasks/filters';
import { IdSearch } from './tasks/search';
import { SubmitTaskDialog } from './tasks/submit';

const PAGE_SIZE = 50;
/** More changed rows than this in one burst: fetch the page instead of row by row. */
const ROW_REFRESH_MAX = 10;

type Patch = Partial<Task> & { updated_at: string };

/** A total as shown: "1,234", or "10,000+" past the API's cap. */
function totalText(page: TaskPage): string | null {
  if (page.total === null) return null;
  return `${count(page.total)}${page.total_capped ? '+' : ''}`;
}

export function Tasks(): ReactNode {
  const filters = useTaskFilters();
  const key = filterKey(filters);
  const now = useNow(5000);
  const [submitting, setSubmitting] = useState(false);

  const pages = useCursorPages(key);
  const { cursor } = pages;
  const [selected, setSelected] = useState<Set<string>>(new Set());
  useEffect(() => setSelected(new Set()), [key]);

  // Live events keep the page current; without them (a proxy that drops the stream) it polls.
  const liveOpen = useLiveOpen();
  const page = usePoll(
    () => {
      const q = filterParams(filters, Date.now());
      q.set('limit', String(PAGE_SIZE));
      if (cursor) q.set('cursor', cursor);
      return api<TaskPage>('GET', `/v1/tasks?${q.toString()}`);
    },
    liveOpen ? 0 : 5000,
    [key, cursor],
  );
  const queues = usePoll(() => api<{ items: Queue[] }>('GET', '/v1/queues'), 30_000, []);
  const workers = usePoll(
    () => (filters.worker ? api<{ items: Worker[] }>('GET', '/v1/workers') : Promise.resolve(null)),
    0,
    [filters.worker],
  );

  // Rows changed since the page was loaded, newest wins by updated_at.
  // Kept across reloads of the page, which may answer with older data than an event's.
  const [patches, setPatches] = useState<Map<string, Patch>>(new Map());
  useEffect(() => setPatches(new Map()), [key]);
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
      pages.page === 1 &&
      (!filters.queue || d.queue === filters.queue) &&
      (!filters.status || d.status === filters.status)
    ) {
      // A new task, or one that moved into the filter: the first page and the total change.
      newOnFirstPage.current = true;
      flush();
    }
  });

  const filtered = isFiltered(filters);
  const total = page.data ? totalText(page.data) : null;
  const filterError =
    page.error instanceof ApiError && page.error.field
      ? { field: page.error.field, message: page.error.message }
      : null;
  const workerName = workers.data?.items.find((w) => w.id === filters.worker)?.name ?? null;
  const allSelected = rows.length > 0 && rows.every((r) => selected.has(r.id));
  const toggle = (id: string): void =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return (
    <>
      <PageHeader title="Tasks">
        <IdSearch />
        <button type="button" className="btn primary" onClick={() => setSubmitting(true)}>
          New task
        </button>
      </PageHeader>
      {submitting ? (
        <SubmitTaskDialog queues={queues.data?.items ?? []} onClose={() => setSubmitting(false)} />
      ) : null}
      <FilterBar
        filters={filters}
        queues={queues.data?.items ?? []}
        workerName={workerName}
        error={filterError}
      />
      {filterError ? null : <ErrorNote error={page.error} what="Could not load the tasks" />}
      <div className="list-summary">
        {total !== null ? (
          <span className="total" data-total={page.data?.total ?? ''}>
            {total} task{total === '1' ? '' : 's'}
            {filtered ? ' match' : ''}
          </span>
        ) : null}
        <BulkBar
          selected={selected}
          rows={rows}
          filters={filters}
          total={total}
          onClear={() => setSelected(new Set())}
          onDone={() => {
            setSelected(new Set());
            page.reload();
          }}
        />
      </div>
      {!page.data ? (
        page.loading ? (
          <Loading />
        ) : null
      ) : rows.length === 0 ? (
        filtered ? (
          <Empty title="No task matches these filters">Change or clear the filters.</Empty>
        ) : (
          <Empty title="No tasks yet">
            Submit one with <strong>New task</strong>, or with <code>POST /v1/tasks</code>, for
            example{' '}
            <code>{`curl -X POST ${window.location.origin}/v1/tasks -H 'content-type: application/json' -d '{"command":"echo hi"}'`}</code>
            . It appears here as soon as it is stored.
          </Empty>
        )
      ) : (
        <div className="table-wrap">
          <table className="tasks">
            <thead>
              <tr>
                <th className="select">
                  <input
                    type="checkbox"
                    aria-label="Select every task on this page"
                    checked={allSelected}
                    onChange={() =>
                      setSelected(allSelected ? new Set() : new Set(rows.map((r) => r.id)))
                    }
                  />
                </th>
                <th>ID</th>
                <th>Command</th>
                <th>Queue</th>
                <th>Status</th>
                <th className="num">Attempt</th>
                <th>Last error</th>
                <th>Created</th>
                <th>Run at</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <tr
                  key={t.id}
                  data-task-id={t.id}
                  className={`row-${t.status} ${selected.has(t.id) ? 'selected' : ''}`}
                >
                  <td className="select">
                    <input
                      type="checkbox"
                      aria-label={`Select task ${t.id}`}
                      checked={selected.has(t.id)}
                      onChange={() => toggle(t.id)}
                    />
                  </td>
                  <td className="mono">
                    <Link to={`tasks/${t.id}`} title={t.id}>
                      {shortId(t.id)}
                    </Link>
                  </td>
                  <td className="command" title={t.command}>
                    {t.command}
                  </td>
                  <td>
                    {t.queue}
                    {t.group ? (
                      <span className="muted" title="Its group in the queue's round robin">
                        {' '}
                        · {t.group}
                      </span>
                    ) : null}
                  </td>
                  <td>
                    <StatusBadge status={t.status} />
                  </td>
                  <td className="num">
                    {t.attempt}/{t.max_attempts}
                  </td>
                  <td className="last-error" title={t.error ?? undefined}>
                    {t.error ?? ''}
                  </td>
                  <td>
                    <Time at={t.created_at} now={now} />
                  </td>
                  <td>
                    <Time at={t.run_at} now={now} />
                  </td>
                  <td>
                    <Time at={t.updated_at} now={now} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page.data ? (
        <Pager
          pages={pages}
          next={page.data.next_cursor}
          of={
            page.data.total !== null
              ? `${Math.max(1, Math.ceil(page.data.total / PAGE_SIZE))}${page.data.total_capped ? '+' : ''}`
              : null
          }
        />
      ) : null}
    </>
  );
}
