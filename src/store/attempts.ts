import type { Db } from './db.js';

/** How one attempt ended. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'timeout' | 'lease_expired' | 'cancelled';

/** One row of a task's attempt history. */
export interface Attempt {
  attempt: number;
  workerId: string | null;
  pickedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date;
  outcome: AttemptOutcome;
  error: string | null;
}

/** The attempt history of one task, oldest first. */
export async function listAttempts(db: Db, taskId: string): Promise<Attempt[]> {
  const { rows } = await db.pool.query<Attempt>(
    `SELECT attempt, worker_id AS "workerId", picked_at AS "pickedAt", started_at AS "startedAt",
            finished_at AS "finishedAt", outcome, error
     FROM ${db.s}.task_attempts WHERE task_id = $1 ORDER BY attempt`,
    [taskId],
  );
  return rows;
}
