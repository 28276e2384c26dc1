import type pg from 'pg';
import {
  CANCELLABLE_STATUSES,
  CANCEL_SET_SQL,
  announceCancelledAttempts,
  cancelSpawnedBelow,
  cancelledAttemptsCte,
  RETRYABLE_STATUSES,
  retrySetSql,
  statusInSql,
} from './actions.js';
import { wakeChannel, wakePayloadSql } from './channels.js';
import { withDeadlockRetry, type Db } from './db.js';
import { eventsChannel, notifyChangesCte } from './events.js';
import { countTasks, type CappedCount } from './read.js';
import type { TaskStatus } from './types.js';

/**
 * Bulk actions: cancel or retry many tasks in one statement, by ids or by a filter. Each
 * follows the one-task action's rules (store/actions.ts: the same statuses, the same SET
 * lists, the same attempt history), and tells coordinators the same way: a cancelled running
 * attempt on the cancel channel, so its handler's AbortSignal fires; retried tasks on the
 * wake channel, once per queue. Status changes are announced on the events channel as every
 * batch statement announces them, while anyone watches (notifyChangesCte).
 */

/** Which tasks a bulk action is for: these ids, or up to `limit` tasks of a queue in a status. */
export type BulkSelection =
  | { ids: string[] }
  | { queue: string; status: TaskStatus; limit: number };

/** What a bulk action did. */
export interface BulkOutcome {
  /** The tasks it changed, with the status each had before. */
  changed: Array<{ id: string; previous: TaskStatus }>;
  /** Ids it left as they were: `status` is theirs, or null when there is no such task. */
  skipped: Array<{ id: string; status: TaskStatus | null }>;
  /** With a filter: how many tasks still match it, once the action committed. */
  remaining: CappedCount | null;
}

/** A bulk action's remaining count is exact up to this many (like the task list's total). */
export const BULK_REMAINING_CAP = 10_000;

interface ChangedRow {
  id: string;
  previous: TaskStatus;
  changed: boolean;
  attempt: number;
}

/**
 * Cancels tasks that have not ended. A running attempt is ended (recorded as cancelled in
 * task_attempts) and its handler told on the cancel channel; its late result is fenced out
 * because the task is no longer running. The children of a waiting parent go with it, as in
 * the one-task cancel (cancelSpawnedBelow).
 */
export async function bulkCancel(db: Db, selection: BulkSelection): Promise<BulkOutcome> {
  return bulkAction(db, selection, CANCELLABLE_STATUSES, async (client, wanted, values) => {
    // Params: those of `wanted`, then the events channel.
    values.push(eventsChannel(db));
    const events = `$${values.length}`;
    const { rows } = await client.query<ChangedRow>(
      `WITH ${wanted}, upd AS (
         UPDATE ${db.s}.tasks t SET ${CANCEL_SET_SQL}
         FROM wanted w WHERE t.id = w.id AND ${statusInSql('w.previous', CANCELLABLE_STATUSES)}
         RETURNING t.id, t.status, t.attempt, t.updated_at, t.queue, t.worker_id, t.picked_at,
           t.started_at, w.previous
       ), ${cancelledAttemptsCte(db, 'upd')}, ${notifyChangesCte(db, 'upd', events)}
       SELECT w.id, w.previous, upd.id IS NOT NULL AS changed, coalesce(upd.attempt, 0) AS attempt
       FROM wanted w LEFT JOIN upd USING (id), (SELECT count(*) FROM notified) AS n`,
      values,
    );
    const changed = rows.filter((r) => r.changed);
    await announceCancelledAttempts(
      client,
      db,
      changed.filter((r) => r.previous === 'running'),
    );
    await cancelSpawnedBelow(
      client,
      db,
      changed.filter((r) => r.previous === 'waiting').map((r) => r.id),
    );
    return rows;
  });
}

/**
 * Sends dead and cancelled tasks round again: pending, due now, with a fresh set of attempts
 * (`extraAttempts`, else the queue's max_attempts, else the default), and wakes the
 * coordinators once per queue.
 */
export async function bulkRetry(
  db: Db,
  selection: BulkSelection,
  extraAttempts: number | null,
): Promise<BulkOutcome> {
  return bulkAction(db, selection, RETRYABLE_STATUSES, async (client, wanted, values) => {
    // Params: those of `wanted`, then extra attempts, the wake and the events channels.
    values.push(extraAttempts, wakeChannel(db), eventsChannel(db));
    const n = values.length;
    const { rows } = await client.query<ChangedRow>(
      `WITH ${wanted}, upd AS (
         UPDATE ${db.s}.tasks t SET ${retrySetSql(db, `$${n - 2}`)}
         FROM wanted w WHERE t.id = w.id AND ${statusInSql('w.previous', RETRYABLE_STATUSES)}
         RETURNING t.id, t.status, t.attempt, t.updated_at, t.queue, t.scheduled_at, w.previous
       ), woken AS (
         SELECT pg_notify($${n - 1}, ${wakePayloadSql('min(scheduled_at)', 'queue')})
         FROM upd GROUP BY queue
       ), ${notifyChangesCte(db, 'upd', `$${n}`)}
       SELECT w.id, w.previous, upd.id IS NOT NULL AS changed, coalesce(upd.attempt, 0) AS attempt
       FROM wanted w LEFT JOIN upd USING (id), (SELECT count(*) FROM woken) AS k,
         (SELECT count(*) FROM notified) AS n`,
      values,
    );
    return rows;
  });
}

/**
 * Runs one bulk statement in a transaction, retrying it after a deadlock, and sorts what it
 * did into changed and skipped. `run` gets the `wanted` CTE (id, previous: the selected
 * tasks, locked, with their status) and its parameters, to append its own to.
 */
async function bulkAction(
  db: Db,
  selection: BulkSelection,
  applies: readonly TaskStatus[],
  run: (client: pg.PoolClient, wanted: string, values: unknown[]) => Promise<ChangedRow[]>,
): Promise<BulkOutcome> {
  const ids = 'ids' in selection ? [...new Set(selection.ids)] : null;
  const rows = await withDeadlockRetry(db, (client) => {
    const values: unknown[] = [];
    return run(client, wantedCte(db, selection, ids, applies, values), values);
  });
  const changed = rows.filter((r) => r.changed).map((r) => ({ id: r.id, previous: r.previous }));
  const found = new Map(rows.map((r) => [r.id, r]));
  const skipped = (ids ?? [])
    .filter((id) => !found.get(id)?.changed)
    .map((id) => ({ id, status: found.get(id)?.previous ?? null }));
  const remaining =
    'ids' in selection
      ? null
      : await countTasks(
          db,
          { queue: selection.queue, status: selection.status },
          BULK_REMAINING_CAP,
        );
  return { changed, skipped, remaining };
}

/**
 * The `wanted` CTE: the selected tasks, locked, with the status each has (id, previous).
 * Ids wait for locks, in id order so that two bulk actions cannot deadlock each other. A
 * filter skips locked rows (a claim or a completion holds them for a moment; they stay in the
 * remaining count) and takes the oldest first.
 */
function wantedCte(
  db: Db,
  selection: BulkSelection,
  ids: string[] | null,
  applies: readonly TaskStatus[],
  values: unknown[],
): string {
  if (ids) {
    // Params: $1 ids
    values.push(ids);
    return `wanted AS (
      SELECT t.id, t.status AS previous
      FROM unnest($1::uuid[]) AS r(id) JOIN ${db.s}.tasks t ON t.id = r.id
      ORDER BY t.id FOR UPDATE OF t
    )`;
  }
  if (!('queue' in selection) || !applies.includes(selection.status)) {
    throw new Error(`a bulk action by filter needs one of the statuses ${applies.join(', ')}`);
  }
  // Params: $1 queue, $2 status, $3 limit. `status <> 'running'` lets the queue's partial
  // indexes (0012_task_list_filters.sql) serve the scan.
  values.push(selection.queue, selection.status, selection.limit);
  const indexHint = selection.status === 'running' ? '' : `AND status <> 'running'`;
  return `wanted AS (
    SELECT id, status AS previous FROM ${db.s}.tasks
    WHERE queue = $1 AND status = $2 ${indexHint}
    ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
  )`;
}
