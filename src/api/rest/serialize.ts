import type { Attempt } from '../../store/attempts.js';
import type { Task } from '../../store/types.js';
import type { BulkResultJsonType } from '../schemas/bulk.js';
import type { TaskJsonType } from '../schemas/tasks.js';
import type { BulkResult } from '../services/bulk.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** A task as the /v1 API shows it: snake_case, UTC timestamps, nulls kept. */
export function taskToJson(
  t: Task,
  extra?: { attempts?: Attempt[]; waitingFor?: string | null; workerName?: string | null },
): TaskJsonType {
  const json: TaskJsonType = {
    id: t.id,
    queue: t.queue,
    command: t.command,
    payload: t.payload,
    priority: t.priority,
    status: t.status,
    run_at: t.scheduledAt.toISOString(),
    attempt: t.attempt,
    max_attempts: t.maxAttempts,
    timeout_ms: t.timeoutMs,
    backoff_ms: t.backoffBaseMs,
    backoff_max_ms: t.backoffMaxMs,
    worker_id: t.workerId,
    idempotency_key: t.idempotencyKey,
    concurrency_key: t.concurrencyKey,
    rate_key: t.rateKey,
    group: t.group,
    sticky_key: t.stickyKey,
    workflow_id: t.workflowId,
    workflow_key: t.workflowKey,
    parent_task_id: t.parentId,
    requires: t.requires,
    progress:
      t.progressPercent === null
        ? null
        : { percent: t.progressPercent, message: t.progressMessage ?? '' },
    result: t.result,
    error: t.error,
    executor: t.executor,
    created_at: t.createdAt.toISOString(),
    updated_at: t.updatedAt.toISOString(),
    picked_at: iso(t.pickedAt),
    started_at: iso(t.startedAt),
    completed_at: iso(t.completedAt),
    failed_at: iso(t.failedAt),
    cancelled_at: iso(t.cancelledAt),
  };
  if (extra?.waitingFor) json.waiting_for = extra.waitingFor;
  if (extra?.workerName !== undefined) json.worker_name = extra.workerName;
  if (extra?.attempts) {
    json.attempts = extra.attempts.map((a) => ({
      attempt: a.attempt,
      worker_id: a.workerId,
      worker_name: a.workerName,
      picked_at: iso(a.pickedAt),
      started_at: iso(a.startedAt),
      finished_at: a.finishedAt.toISOString(),
      outcome: a.outcome,
      error: a.error,
    }));
  }
  return json;
}

/** A bulk action's answer. */
export function bulkToJson(r: BulkResult): BulkResultJsonType {
  return {
    changed: r.changedIds.length,
    changed_ids: r.changedIds,
    skipped: r.skipped,
    remaining: r.remaining?.count ?? null,
    remaining_capped: r.remaining?.capped ?? false,
  };
}

/** The seed's status shape: timestamps that are not set yet are left out. */
export function taskToSeedStatus(t: Task): Record<string, string> {
  const out: Record<string, string> = {
    task_id: t.id,
    command: t.command,
    status: t.status,
    scheduled_at: t.scheduledAt.toISOString(),
  };
  if (t.pickedAt) out.picked_at = t.pickedAt.toISOString();
  if (t.startedAt) out.started_at = t.startedAt.toISOString();
  if (t.completedAt) out.completed_at = t.completedAt.toISOString();
  if (t.failedAt) out.failed_at = t.failedAt.toISOString();
  return out;
}
