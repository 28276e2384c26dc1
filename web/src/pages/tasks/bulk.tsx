/**
 * Bulk actions on the tasks list: retry or cancel the selected tasks, or every task of a
 * queue in a status (POST /v1/tasks/bulk/retry, /v1/tasks/bulk/cancel). Each asks first,
 * with the count, and then says how many changed and how many were skipped, and why.
 */
import { useState, type ReactNode } from 'react';
import { api } from '../../api';
import { count, shortId } from '../../format';
import { Link } from '../../router';
import type { BulkActionResult, Task, TaskStatus } from '../../types';
import { ConfirmDialog } from '../../ui';
import type { TaskFilters } from './filters';

/** The two actions, with the statuses each applies to (as the API has them). */
const ACTIONS = {
  retry: { verb: 'Retry', done: 'Retried', applies: ['dead', 'cancelled'] as TaskStatus[] },
  cancel: {
    verb: 'Cancel',
    done: 'Cancelled',
    applies: ['blocked', 'waiting', 'pending', 'running'] as TaskStatus[],
  },
} as const;
type ActionName = keyof typeof ACTIONS;

/** Most ids one request takes (the API's limit). */
const IDS_PER_CALL = 1000;

/** What a bulk action did, over however many calls it took. */
interface Outcome {
  changed: number;
  skipped: BulkActionResult['skipped'];
  /** Filter only: tasks that still match after the last call. */
  remaining: number | null;
  remainingCapped: boolean;
}

type Pending =
  | { kind: 'ids'; action: ActionName; ids: string[]; statuses: Map<string, TaskStatus> }
  | { kind: 'filter'; action: ActionName; queue: string; status: TaskStatus; total: string };

/** The bar above the table: what is selected, and the actions on it. */
export function BulkBar(props: {
  selected: Set<string>;
  rows: Task[];
  filters: TaskFilters;
  /** The list's total for the filters, as shown ("1,234" or "10,000+"). */
  total: string | null;
  onClear: () => void;
  onDone: () => void;
}): ReactNode {
  const [pending, setPending] = useState<Pending | null>(null);
  const f = props.filters;
  const byId = new Map(props.rows.map((t) => [t.id, t.status]));
  const ids = [...props.selected];
  // "All of a queue" only when the list shows exactly that set: a queue and a status filter.
  const filterAction = (['retry', 'cancel'] as const).find(
    (a) =>
      f.queue &&
      f.status &&
      ACTIONS[a].applies.includes(f.status) &&
      !f.command &&
      !f.worker &&
      !f.since,
  );
  const ask = (action: ActionName): void =>
    setPending({ kind: 'ids', action, ids, statuses: byId });
  // The dialog outlives the bar: the list may reload under it (live events) while it runs.
  const dialog = pending ? (
    <BulkDialog
      pending={pending}
      onClose={(changed) => {
        setPending(null);
        if (changed) props.onDone();
      }}
    />
  ) : null;
  const hidden = ids.length === 0 && (!filterAction || !props.total || props.total === '0');
  return (
    <>
      {hidden ? null : (
        <div className="bulk-bar" role="toolbar" aria-label="Bulk actions">
          {ids.length > 0 ? (
            <>
              <strong>{count(ids.length)} selected</strong>
              <button type="button" className="btn primary small" onClick={() => ask('retry')}>
                Retry selected
              </button>
              <button type="button" className="btn danger small" onClick={() => ask('cancel')}>
                Cancel selected
              </button>
              <button type="button" className="btn plain small" onClick={props.onClear}>
                Clear selection
              </button>
            </>
          ) : null}
          {filterAction && props.total && props.total !== '0' ? (
            <button
              type="button"
              className={`btn small ${filterAction === 'retry' ? 'primary' : 'danger'}`}
              onClick={() =>
                setPending({
                  kind: 'filter',
                  action: filterAction,
                  queue: f.queue,
                  status: f.status as TaskStatus,
                  total: props.total ?? '',
                })
              }
            >
              {ACTIONS[filterAction].verb} all {props.total} {f.status} in {f.queue}
            </button>
          ) : null}
        </div>
      )}
      {dialog}
    </>
  );
}

function BulkDialog(props: { pending: Pending; onClose: (changed: boolean) => void }): ReactNode {
  const p = props.pending;
  const a = ACTIONS[p.action];
  const path = `/v1/tasks/bulk/${p.action}`;
  let message: ReactNode;
  let run: (progress: (text: string) => void) => Promise<Outcome>;
  if (p.kind === 'ids') {
    const notApplying = p.ids.filter((id) => {
      const s = p.statuses.get(id);
      return s !== undefined && !a.applies.includes(s);
    }).length;
    message = (
      <>
        {a.verb} <strong>{count(p.ids.length)}</strong> selected task
        {p.ids.length === 1 ? '' : 's'}? Only {a.applies.join(' or ')} tasks are{' '}
        {a.done.toLowerCase()}
        {notApplying > 0
          ? `; ${count(notApplying)} of these ${notApplying === 1 ? 'is' : 'are'} not, and will be skipped.`
          : '.'}
        {p.action === 'cancel' ? ' Running handlers are aborted.' : ''}
      </>
    );
    run = async (progress) => {
      const out: Outcome = { changed: 0, skipped: [], remaining: null, remainingCapped: false };
      for (let i = 0; i < p.ids.length; i += IDS_PER_CALL) {
        const r = await api<BulkActionResult>('POST', path, {
          ids: p.ids.slice(i, i + IDS_PER_CALL),
        });
        out.changed += r.changed;
        out.skipped.push(...r.skipped);
        progress(`${a.done} ${count(out.changed)}…`);
      }
      return out;
    };
  } else {
    message = (
      <>
        {a.verb} all <strong>{p.total}</strong> {p.status} tasks of queue <strong>{p.queue}</strong>
        ?{p.action === 'cancel' && p.status === 'running' ? ' Their handlers are aborted.' : ''}
      </>
    );
    run = async (progress) => {
      const out: Outcome = { changed: 0, skipped: [], remaining: null, remainingCapped: false };
      // A call changes at most 1000; go on until none remain, or a call changes nothing (the
      // rest are held by a worker at that instant). Stop after the count asked about, so that
      // tasks that fail again meanwhile are not retried round and round.
      const asked = Number(p.total.replace(/\D/g, '')) || Infinity;
      for (;;) {
        const r = await api<BulkActionResult>('POST', path, { queue: p.queue, status: p.status });
        out.changed += r.changed;
        out.remaining = r.remaining;
        out.remainingCapped = r.remaining_capped;
        progress(`${a.done} ${count(out.changed)}…`);
        if (!r.remaining || r.changed === 0 || out.changed >= asked) return out;
      }
    };
  }
  return (
    <ConfirmDialog
      title={`${a.verb} tasks`}
      message={message}
      confirmLabel={`${a.verb} ${p.kind === 'ids' ? count(p.ids.length) : p.total}`}
      kind={p.action === 'retry' ? 'primary' : 'danger'}
      run={run}
      outcome={(o) => <OutcomeText outcome={o} done={a.done} />}
      onClose={props.onClose}
    />
  );
}

/** "Retried 3 tasks. Skipped 2: …", grouped by reason, each with its tasks. */
function OutcomeText(props: { outcome: Outcome; done: string }): ReactNode {
  const o = props.outcome;
  const reasons = new Map<string, string[]>();
  for (const s of o.skipped) reasons.set(s.reason, [...(reasons.get(s.reason) ?? []), s.id]);
  return (
    <>
      <p className="outcome-changed">
        {props.done} {count(o.changed)} task{o.changed === 1 ? '' : 's'}.
      </p>
      {o.skipped.length > 0 ? (
        <div className="outcome-skipped">
          <p>Skipped {count(o.skipped.length)}, left as they were:</p>
          <ul>
            {[...reasons].map(([reason, ids]) => (
              <li key={reason}>
                {count(ids.length)} {reason}:{' '}
                {ids.slice(0, 5).map((id) => (
                  <Link key={id} to={`tasks/${id}`} title={id}>
                    {shortId(id)}{' '}
                  </Link>
                ))}
                {ids.length > 5 ? `and ${count(ids.length - 5)} more` : null}
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <p className="muted">None skipped.</p>
      )}
      {o.remaining ? (
        <p className="warn-text">
          {count(o.remaining)}
          {o.remainingCapped ? '+' : ''} still match: a worker held them at that instant, or they
          arrived meanwhile. Run it again to act on them.
        </p>
      ) : null}
    </>
  );
}
