import { ValidationError } from '../../lib/errors.js';
import { CANCELLABLE_STATUSES, RETRYABLE_STATUSES } from '../../store/actions.js';
import { bulkCancel, bulkRetry, type BulkOutcome, type BulkSelection } from '../../store/bulk.js';
import type { Db } from '../../store/db.js';
import type { CappedCount } from '../../store/read.js';
import type { TaskStatus } from '../../store/types.js';
import type { BulkCancelInput, BulkRetryInput } from '../schemas/bulk.js';
import { LIMITS } from '../schemas/tasks.js';
import { guardDb } from './guard.js';
import { checkTaskId } from './submit.js';
import { cannotCancel, cannotRetry } from './tasks.js';

/** What a bulk action did, with the reason for each task it left as it was. */
export interface BulkResult {
  changedIds: string[];
  skipped: Array<{ id: string; status: TaskStatus | null; reason: string }>;
  remaining: CappedCount | null;
}

/**
 * Actions on many tasks at once, by ids or by a filter, with the same rules and messages as
 * the single-task actions of {@link TasksApi}. One instance per process.
 */
export class BulkActionsApi {
  constructor(private readonly db: Db) {}

  /**
   * Cancels pending and running tasks, by ids or by a filter (a queue and one of those
   * statuses); each as {@link cancel} does, running handlers aborted.
   * @throws ValidationError naming the field: neither or both of ids and a filter, a
   * malformed id, a filter without its queue or status.
   */
  async bulkCancel(input: BulkCancelInput): Promise<BulkResult> {
    const selection = bulkSelection(input, CANCELLABLE_STATUSES);
    const out = await guardDb(() => bulkCancel(this.db, selection));
    return bulkResult(out, cannotCancel);
  }

  /**
   * Sends dead and cancelled tasks round again, by ids or by a filter (a queue and one of
   * those statuses); each as {@link retry} does.
   * @throws ValidationError as {@link bulkCancel}.
   */
  async bulkRetry(input: BulkRetryInput): Promise<BulkResult> {
    const selection = bulkSelection(input, RETRYABLE_STATUSES);
    const out = await guardDb(() => bulkRetry(this.db, selection, input.max_attempts ?? null));
    return bulkResult(out, cannotRetry);
  }
}

/**
 * The tasks a bulk action is for: ids, or a filter (queue and status), never both.
 * @throws ValidationError naming the field to fix.
 */
function bulkSelection(
  input: { ids?: string[]; queue?: string; status?: TaskStatus; limit?: number },
  statuses: readonly TaskStatus[],
): BulkSelection {
  const filterFields = (['queue', 'status', 'limit'] as const).filter(
    (k) => input[k] !== undefined,
  );
  if (input.ids !== undefined) {
    const extra = filterFields[0];
    if (extra) {
      throw new ValidationError(
        `give either ids or a filter (queue and status), not both: ${extra} was sent with ids`,
        extra,
      );
    }
    if (input.ids.length === 0 || input.ids.length > LIMITS.bulkSize)
      throw new ValidationError(`ids must hold 1 to ${LIMITS.bulkSize} task ids`, 'ids');
    return { ids: input.ids.map((id, i) => checkTaskId(id, `ids.${i}`)) };
  }
  const allowed = statuses.join(' or ');
  if (input.queue === undefined) {
    throw filterFields.length === 0
      ? new ValidationError(`ids or a filter (queue and status: ${allowed}) is required`, 'ids')
      : new ValidationError(`queue is required with a filter (queue and status)`, 'queue');
  }
  if (input.status === undefined)
    throw new ValidationError(`status is required with queue: ${allowed}`, 'status');
  if (!statuses.includes(input.status))
    throw new ValidationError(`status must be ${allowed}`, 'status');
  return { queue: input.queue, status: input.status, limit: input.limit ?? LIMITS.bulkSize };
}

/** A bulk outcome with the reason for each task left as it was. */
function bulkResult(out: BulkOutcome, refusal: (status: TaskStatus) => string): BulkResult {
  return {
    changedIds: out.changed.map((c) => c.id),
    skipped: out.skipped.map((s) => ({
      id: s.id,
      status: s.status,
      reason: s.status === null ? 'no such task' : refusal(s.status),
    })),
    remaining: out.remaining,
  };
}
