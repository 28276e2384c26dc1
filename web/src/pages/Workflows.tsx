/**
 * Workflows: newest first, paged by cursor, each with its status and a bar of its tasks by
 * status. Polled, and reloaded (debounced) on task events, since any of them may be a
 * workflow's task.
 */
import type { ReactNode } from 'react';
import { api } from '../api';
import { STATUS_COLORS, StackedBar } from '../charts';
import { count, shortId } from '../format';
import { useCursorPages, useDebounced, useLiveEvents, usePoll } from '../hooks';
import { Link } from '../router';
import { TASK_STATUSES, type Workflow, type WorkflowPage } from '../types';
import { Empty, ErrorNote, Loading, PageHeader, Pager, StatusBadge, Time } from '../ui';
import { countsText } from './workflows/text';

const PAGE_SIZE = 50;

/** How many tasks a workflow has, the on_failure task left out (as in its counts). */
function taskCount(w: Workflow): number {
  return Object.values(w.counts).reduce((n, c) => n + (c ?? 0), 0);
}

export function Workflows(): ReactNode {
  const pages = useCursorPages('');
  const list = usePoll(
    () =>
      api<WorkflowPage>(
        'GET',
        `/v1/workflows?limit=${PAGE_SIZE}${pages.cursor ? `&cursor=${encodeURIComponent(pages.cursor)}` : ''}`,
      ),
    5000,
    [pages.cursor],
  );
  useLiveEvents(useDebounced(list.reload, 1000));
  const items = list.data?.items ?? [];

  return (
    <>
      <PageHeader title="Workflows" />
      <ErrorNote error={list.error} what="Could not load the workflows" />
      {!list.data ? (
        list.loading ? (
          <Loading />
        ) : null
      ) : items.length === 0 ? (
        <Empty title="No workflows yet">
          A workflow is a graph of tasks that wait for tasks. Submit one with{' '}
          <code>POST /v1/workflows</code>, for example{' '}
          <code>{`curl -X POST ${window.location.origin}/v1/workflows -H 'content-type: application/json' -d '{"name":"hello","tasks":[{"key":"a","command":"echo a"},{"key":"b","command":"echo b","depends_on":["a"]}]}'`}</code>
          ; docs/workflows.md tells the whole story.
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="workflows">
            <thead>
              <tr>
                <th>Name</th>
                <th>Status</th>
                <th className="num">Tasks</th>
                <th>By status</th>
                <th>Created</th>
                <th>ID</th>
              </tr>
            </thead>
            <tbody>
              {items.map((w) => {
                const total = taskCount(w);
                return (
                  <tr key={w.id} data-workflow-id={w.id}>
                    <td>
                      <Link to={`workflows/${w.id}`}>
                        {w.name ?? <span className="muted">unnamed</span>}
                      </Link>
                    </td>
                    <td>
                      <StatusBadge status={w.status} />
                    </td>
                    <td className="num">{count(total)}</td>
                    <td title={countsText(w.counts)}>
                      <div className="counts-cell">
                        <StackedBar
                          max={total}
                          parts={TASK_STATUSES.map((s) => ({
                            label: s,
                            value: w.counts[s] ?? 0,
                            color: STATUS_COLORS[s],
                          }))}
                        />
                        <span className="counts-text">{countsText(w.counts)}</span>
                      </div>
                    </td>
                    <td>
                      <Time at={w.created_at} />
                    </td>
                    <td className="mono">
                      <Link to={`workflows/${w.id}`} title={w.id}>
                        {shortId(w.id)}
                      </Link>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {list.data ? <Pager pages={pages} next={list.data.next_cursor} /> : null}
    </>
  );
}
