import type { Db } from './db.js';

/** How one attempt ended. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'timeout' | 'lease_expired' | 'cancelled';

/** One row of a task's attempt history. */
export interface Attempt {
  attempt: number;
  workerId: string | null;
  /** The name the worker announced, when it is still known. */
  workerName: string | null;
  pickedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date;
  outcome: AttemptOutcome;
  error: string | null;
}

/** The attempt history of one task, oldest first. */
export async function listAttempts(db: Db, taskId: string): Promise<Attempt[]> {
  const { rows } = await db.pool.query<Attempt>(
    `SELECT a.attempt, a.worker_id AS "workerId", w.name AS "workerName", a.picked_at AS "pickedAt",
            a.started_at AS "startedAt", a.finished_at AS "finishedAt", a.outcome, a.error
     FROM ${db.s}.task_attempts a LEFT JOIN ${db.s}.workers w ON w.id = a.worker_id
     WHERE a.task_id = $1 ORDER BY a.attempt`,
    [taskId],
  );
  return rows;
}
