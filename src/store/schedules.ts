import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { withTransaction, type Db } from './db.js';
import { insertTasks } from './insert.js';
import type { NewTask } from './types.js';
import { insertWorkflow, type NewWorkflow } from './workflows.js';

export type MisfirePolicy = 'skip' | 'run_once' | 'run_all';

/**
 * A cron schedule. Each tick starts a task (`command`, with `handler` and the task fields
 * beside it) or a workflow (`workflow`): exactly one of the two is set.
 */
export interface Schedule {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  command: string | null;
  handler: string | null;
  /** The body of a workflow submit (POST /v1/workflows), as the API checked it. */
  workflow: unknown;
  payload: unknown;
  queue: string;
  priority: number;
  maxAttempts: number | null;
  timeoutMs: number | null;
  misfire: MisfirePolicy;
  catchUpLimit: number;
  paused: boolean;
  nextRunAt: Date;
  lastRunAt: Date | null;
  /** What the latest run started: a task or a workflow (the other is null). */
  lastTaskId: string | null;
  lastWorkflowId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Fields a schedule is created from; without `workflow`, a task schedule. */
export type NewSchedule = Omit<
  Schedule,
  'id' | 'workflow' | 'lastRunAt' | 'lastTaskId' | 'lastWorkflowId' | 'createdAt' | 'updatedAt'
> & { workflow?: unknown };

const COLUMNS = `id, name, cron, timezone, command, handler, workflow, payload, queue, priority,
  max_attempts AS "maxAttempts", timeout_ms AS "timeoutMs", misfire, catch_up_limit AS "catchUpLimit",
  paused, next_run_at AS "nextRunAt", last_run_at AS "lastRunAt", last_task_id AS "lastTaskId",
  last_workflow_id AS "lastWorkflowId", created_at AS "createdAt", updated_at AS "updatedAt"`;

/** JSON text for a jsonb column; null stays SQL NULL. */
const jsonb = (v: unknown): string | null =>
  v === undefined || v === null ? null : JSON.stringify(v);

/** The editable fields as parameters $2 to $16, in column order (see EDITABLE). */
function editable(s: NewSchedule): unknown[] {
  return [
    s.name,
    s.cron,
    s.timezone,
    s.command,
    s.handler,
    jsonb(s.workflow),
    jsonb(s.payload),
    s.queue,
    s.priority,
    s.maxAttempts,
    s.timeoutMs,
    s.misfire,
    s.catchUpLimit,
    s.paused,
    s.nextRunAt,
  ];
}

const EDITABLE = [
  'name',
  'cron',
  'timezone',
  'command',
  'handler',
  'workflow',
  'payload',
  'queue',
  'priority',
  'max_attempts',
  'timeout_ms',
  'misfire',
  'catch_up_limit',
  'paused',
  'next_run_at',
];
const JSONB = new Set(['workflow', 'payload']);

export async function insertSchedule(db: Db, s: NewSchedule): Promise<Schedule> {
  const { rows } = await db.pool.query<Schedule>(
    `INSERT INTO ${db.s}.schedules (id, ${EDITABLE.join(', ')})
     VALUES ($1, ${EDITABLE.map((c, i) => `$${i + 2}${JSONB.has(c) ? '::jsonb' : ''}`).join(', ')})
     RETURNING ${COLUMNS}`,
    [uuidv7(), ...editable(s)],
  );
  return rows[0] as Schedule;
}

/**
 * One schedule by id or name. An id always wins: the API refuses names shaped like ids, but
 * one stored before that rule could name itself after another schedule's id.
 * Params: $1 the id (any case) or name.
 */
export async function getSchedule(db: Db, idOrName: string): Promise<Schedule | null> {
  const { rows } = await db.pool.query<Schedule>(
    `SELECT ${COLUMNS} FROM ${db.s}.schedules WHERE id::text = lower($1) OR name = $1
     ORDER BY id::text = lower($1) DESC LIMIT 1`,
    [idOrName],
  );
  return rows[0] ?? null;
}

export async function listSchedules(db: Db): Promise<Schedule[]> {
  const { rows } = await db.pool.query<Schedule>(
    `SELECT ${COLUMNS} FROM ${db.s}.schedules ORDER BY name`,
  );
  return rows;
}

/** Replaces the editable fields of a schedule. */
export async function updateSchedule(db: Db, id: string, s: NewSchedule): Promise<Schedule | null> {
  const { rows } = await db.pool.query<Schedule>(
    `UPDATE ${db.s}.schedules
     SET ${EDITABLE.map((c, i) => `${c} = $${i + 2}${JSONB.has(c) ? '::jsonb' : ''}`).join(', ')}, updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, ...editable(s)],
  );
  return rows[0] ?? null;
}

export async function deleteSchedule(db: Db, id: string): Promise<boolean> {
  const { rowCount } = await db.pool.query(`DELETE FROM ${db.s}.schedules WHERE id = $1`, [id]);
  return (rowCount ?? 0) > 0;
}

/** The earliest next run among active schedules. */
export async function nextScheduleRun(db: Db): Promise<Date | null> {
  const { rows } = await db.pool.query<{ next: Date | null }>(
    `SELECT min(next_run_at) AS next FROM ${db.s}.schedules WHERE NOT paused`,
  );
  return rows[0]?.next ?? null;
}

/** What one firing pass decided for a schedule. */
export interface FirePlan {
  /** Ticks to fire now (their tasks run at once). */
  ticks: Date[];
  /** The schedule's next tick after `now`. */
  nextRunAt: Date;
}

/** What a firing pass takes from the layers above the store. */
export interface ScheduleFiring {
  /** The ticks a due schedule fires now (its misfire policy), and its next run. */
  plan: (s: Schedule, now: Date) => FirePlan;
  /**
   * The workflow a tick of a workflow schedule starts, built from `s.workflow` as a submit
   * builds one (checks, defaults), with the id and idempotency key given.
   * @throws when the stored body no longer passes the checks: that tick is skipped.
   */
  workflow: (s: Schedule, run: { id: string; idempotencyKey: string }) => NewWorkflow;
  /** Told of each tick skipped because `workflow` threw. */
  onSkipped?: (s: Schedule, tick: Date, err: unknown) => void;
}

/** What a run of a schedule started: a task or a workflow. */
export type StartedRun =
  | { taskId: string; workflowId?: never }
  | { workflowId: string; taskId?: never };

/**
 * Fires due schedules in one transaction. Due schedules are locked with SKIP LOCKED, so
 * concurrent schedulers share them out; `firing.plan` decides the ticks (misfire policy) and
 * the next run. Each tick is claimed in schedule_runs by its (schedule, tick) key before its
 * task or workflow is inserted, so a tick fires exactly once even if two schedulers compute
 * it. Tasks go through insertTasks and workflows through insertWorkflow, in this transaction:
 * the statements every submit uses.
 *
 * @param now the clock to use (a parameter so that tests can control it).
 * @returns the number of runs started (tasks and workflows).
 */
export async function fireDueSchedules(
  db: Db,
  now: Date,
  firing: ScheduleFiring,
  limit = 100,
): Promise<number> {
  return withTransaction(db, async (client) => {
    const { rows: due } = await client.query<Schedule>(
      `SELECT ${COLUMNS} FROM ${db.s}.schedules WHERE NOT paused AND next_run_at <= $1
       ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [now, limit],
    );
    let created = 0;
    for (const s of due) {
      const p = firing.plan(s, now);
      let last: StartedRun | null = null;
      for (const tick of p.ticks) {
        const run = prepareRun(db, client, s, tick, firing);
        if (!run) continue;
        // Params: $1 schedule id, $2 tick, $3 task id, $4 workflow id
        const claimed = await client.query(
          `INSERT INTO ${db.s}.schedule_runs (schedule_id, tick, task_id, workflow_id)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING`,
          [s.id, tick, run.started.taskId ?? null, run.started.workflowId ?? null],
        );
        if (claimed.rowCount !== 1) continue;
        await run.insert();
        last = run.started;
        created++;
      }
      // Params: $1 schedule id, $2 next run, $3 whether a run started, $4 its tick,
      // $5 its task id, $6 its workflow id
      await client.query(
        `UPDATE ${db.s}.schedules SET next_run_at = $2,
           last_run_at = CASE WHEN $3 THEN $4 ELSE last_run_at END,
           last_task_id = CASE WHEN $3 THEN $5::uuid ELSE last_task_id END,
           last_workflow_id = CASE WHEN $3 THEN $6::uuid ELSE last_workflow_id END,
           updated_at = now()
         WHERE id = $1`,
        [
          s.id,
          p.nextRunAt,
          last !== null,
          p.ticks.at(-1) ?? null,
          last?.taskId ?? null,
          last?.workflowId ?? null,
        ],
      );
    }
    return created;
  });
}

/**
 * A tick's run, ready to claim and insert: the task of a task schedule, or the workflow of a
 * workflow schedule. Null when the workflow could not be built (firing.onSkipped is told).
 */
function prepareRun(
  db: Db,
  client: pg.PoolClient,
  s: Schedule,
  tick: Date,
  firing: ScheduleFiring,
): { started: StartedRun; insert: () => Promise<void> } | null {
  const idempotencyKey = runKey(s, tick);
  if (s.workflow === null || s.workflow === undefined) {
    const task = scheduledTask(s, uuidv7(), tick, idempotencyKey);
    return {
      started: { taskId: task.id },
      // The one insert path every task takes: the queue's defaults, wake-up and events.
      insert: async () => void (await insertTasks(db, [task], client)),
    };
  }
  let wf: NewWorkflow;
  try {
    wf = firing.workflow(s, { id: uuidv7(), idempotencyKey });
  } catch (err) {
    firing.onSkipped?.(s, tick, err);
    return null;
  }
  return {
    started: { workflowId: wf.id },
    insert: async () => {
      const stored = await insertWorkflow(db, wf, client);
      // The key was taken (a workflow submitted with it by hand): the run names that one.
      if (stored.id !== wf.id)
        await client.query(
          `UPDATE ${db.s}.schedule_runs SET workflow_id = $3 WHERE schedule_id = $1 AND tick = $2`,
          [s.id, tick, stored.id],
        );
    },
  };
}

/** The idempotency key of the task or workflow a tick starts. */
function runKey(s: Schedule, tick: Date): string {
  return `schedule:${s.id}:${tick.toISOString()}`;
}

/** One run of a schedule: a cron tick, or a trigger by hand (its tick is when). */
export type ScheduleRun = StartedRun & { tick: Date; manual: boolean };

/** Runs a schedule has had, newest first. */
export async function listScheduleRuns(
  db: Db,
  scheduleId: string,
  limit = 20,
): Promise<ScheduleRun[]> {
  const { rows } = await db.pool.query<{
    tick: Date;
    manual: boolean;
    taskId: string | null;
    workflowId: string | null;
  }>(
    `SELECT tick, task_id AS "taskId", workflow_id AS "workflowId", manual
     FROM ${db.s}.schedule_runs
     WHERE schedule_id = $1 ORDER BY tick DESC LIMIT $2`,
    [scheduleId, limit],
  );
  return rows.map(({ tick, manual, taskId, workflowId }) => ({
    tick,
    manual,
    ...(workflowId !== null ? { workflowId } : { taskId: taskId as string }),
  }));
}

/**
 * Records a run triggered by hand, whose task or workflow was just submitted: it is listed
 * with the schedule's runs and becomes its last run. The next cron run is unchanged.
 */
export async function recordManualRun(
  db: Db,
  scheduleId: string,
  started: StartedRun,
): Promise<void> {
  // Params: $1 schedule id, $2 task id, $3 workflow id
  await db.pool.query(
    `WITH run AS (
       INSERT INTO ${db.s}.schedule_runs (schedule_id, tick, task_id, workflow_id, manual)
       VALUES ($1, clock_timestamp(), $2, $3, true)
       ON CONFLICT DO NOTHING
       RETURNING tick
     )
     UPDATE ${db.s}.schedules SET last_run_at = run.tick, last_task_id = $2,
       last_workflow_id = $3, updated_at = now()
     FROM run WHERE id = $1`,
    [scheduleId, started.taskId ?? null, started.workflowId ?? null],
  );
}

/** The task a task schedule's tick creates, as any submit would make it. */
function scheduledTask(s: Schedule, id: string, tick: Date, idempotencyKey: string): NewTask {
  return {
    id,
    queue: s.queue,
    command: s.command as string,
    handler: s.handler as string,
    payload: s.payload ?? null,
    payloadJson: s.payload === undefined || s.payload === null ? null : JSON.stringify(s.payload),
    priority: s.priority,
    runAt: tick,
    maxAttempts: s.maxAttempts,
    timeoutMs: s.timeoutMs,
    backoffBaseMs: null,
    backoffMaxMs: null,
    idempotencyKey,
    concurrencyKey: null,
    traceContext: null,
  };
}
