import type { Db } from '../../store/db.js';
import { isQueuePaused, rateLimitHold } from '../../store/queues.js';
import type { Task } from '../../store/types.js';
import { hasCapableWorker } from '../../store/workers.js';

/** A workers row older than this is treated as gone when explaining a pending task. */
const WORKER_FRESH_MS = 15_000;

/**
 * Why a due pending task has not started, in words, or null when nothing holds it: its queue
 * is paused, a rate limit holds it (and until when), or no connected worker can take it.
 */
export async function waitingFor(db: Db, task: Task): Promise<string | null> {
  if (task.status !== 'pending' || task.scheduledAt.getTime() > Date.now()) return null;
  if (await isQueuePaused(db, task.queue)) return `queue '${task.queue}' is paused`;
  const held = await rateLimitHold(db, task.queue, task.rateKey);
  if (held) {
    const what = held.scope === 'key' ? `key '${task.rateKey}'` : `queue '${task.queue}'`;
    return `rate limit of ${held.limit.count} per ${formatPeriod(held.limit.periodMs)} for ${what}: may start at ${held.until.toISOString()}`;
  }
  const capable = await hasCapableWorker(
    db,
    task.queue,
    task.handler,
    WORKER_FRESH_MS,
    task.requires,
  );
  if (capable) return null;
  const labels = task.requires
    ? ` with labels ${Object.entries(task.requires)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`
    : '';
  return `no connected worker handles '${task.handler}' on queue '${task.queue}'${labels}`;
}

/** A rate limit's period in words: "1 s", "1 min", "1 h", "250 ms". */
function formatPeriod(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}
