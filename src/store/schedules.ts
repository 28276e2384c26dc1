import { v7 as uuidv7 } from 'uuid';
import { withTransaction, type Db } from './db.js';
import { insertTasks } from './insert.js';
import type { NewTask } from './types.js';

export type MisfirePolicy = 'skip' | 'run_once' | 'run_all';

/** A cron schedule. */
export interface Schedule {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  command: string;
  handler: string;
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
  lastTaskId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Fields a schedule is created from. */
export type NewSchedule = Omit<
  Schedule,
  'id' | 'lastRunAt' | 'lastTaskId' | 'createdAt' | 'updatedAt'
>;

const COLUMNS = `id, name, cron, timezone, command, handler, payload, queue, priority,
  max_attempts AS "maxAttempts", timeout_ms AS "timeoutMs", misfire, catch_up_limit AS "catchUpLimit",
  paused, next_run_at AS "nextRunAt", last_run_at AS "lastRunAt", last_task_id AS "lastTaskId",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** The editable fields as parameters $2 to $15, in column order (see EDITABLE). */
function editable(s: NewSchedule): unknown[] {
  return [
    s.name,
    s.cron,
    s.timezone,
    s.command,
    s.handler,
    s.payload === undefined ? null : JSON.stringify(s.payload),
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

export async function insertSchedule(db: Db, s: NewSchedule): Promise<Schedule> {
  const { rows } = await db.pool.query<Schedule>(
    `INSERT INTO ${db.s}.schedules (id, ${EDITABLE.join(', ')})
     VALUES ($1, ${EDITABLE.map((c, i) => `$${i + 2}${c === 'payload' ? '::jsonb' : ''}`).join(', ')})
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
     SET ${EDITABLE.map((c, i) => `${c} = $${i + 2}${c === 'payload' ? '::jsonb' : ''}`).join(', ')}, updated_at = now()
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

/**
 * Fires due schedules in one transaction. Due schedules are locked with SKIP LOCKED, so
 * concurrent schedulers share them out; `plan` decides the ticks (misfire policy) and the
 * next run. Each tick is claimed in schedule_runs by its (schedule, tick) key before its task
 * is inserted, so a tick fires exactly once even if two schedulers compute it.
 *
 * @param now the clock to use (a parameter so that tests can control it).
 * @returns the number of tasks created.
 */
export async function fireDueSchedules(
  db: Db,
  now: Date,
  plan: (s: Schedule, now: Date) => FirePlan,
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
      const p = plan(s, now);
      let lastTaskId: string | null = null;
      for (const tick of p.ticks) {
        const taskId = uuidv7();
        const claimed = await client.query(
          `INSERT INTO ${db.s}.schedule_runs (schedule_id, tick, task_id) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING`,
          [s.id, tick, taskId],
        );
        if (claimed.rowCount !== 1) continue;
        // The one insert path every task takes: the queue's defaults, wake-up and events.
        await insertTasks(db, [scheduledTask(s, taskId, tick)], client);
        lastTaskId = taskId;
        created++;
      }
      await client.query(
        `UPDATE ${db.s}.schedules SET next_run_at = $2,
           last_run_at = CASE WHEN $3::uuid IS NULL THEN last_run_at ELSE $4 END,
           last_task_id = coalesce($3::uuid, last_task_id), updated_at = now()
         WHERE id = $1`,
        [s.id, p.nextRunAt, lastTaskId, p.ticks.at(-1) ?? null],
      );
    }
    return created;
  });
}

/** One run of a schedule: a cron tick, or a trigger by hand (its tick is when). */
export interface ScheduleRun {
  tick: Date;
  taskId: string;
  manual: boolean;
}

/** Runs a schedule has had, newest first. */
export async function listScheduleRuns(
  db: Db,
  scheduleId: string,
  limit = 20,
): Promise<ScheduleRun[]> {
  const { rows } = await db.pool.query<ScheduleRun>(
    `SELECT tick, task_id AS "taskId", manual FROM ${db.s}.schedule_runs
     WHERE schedule_id = $1 ORDER BY tick DESC LIMIT $2`,
    [scheduleId, limit],
  );
  return rows;
}

/**
 * Records a run triggered by hand, whose task `taskId` was just submitted: it is listed with
 * the schedule's runs and becomes its last run. The next cron run is unchanged.
 */
export async function recordManualRun(db: Db, scheduleId: string, taskId: string): Promise<void> {
  // Params: $1 schedule id, $2 task id
  await db.pool.query(
    `WITH run AS (
       INSERT INTO ${db.s}.schedule_runs (schedule_id, tick, task_id, manual)
       VALUES ($1, clock_timestamp(), $2, true)
       ON CONFLICT DO NOTHING
       RETURNING tick
     )
     UPDATE ${db.s}.schedules SET last_run_at = run.tick, last_task_id = $2, updated_at = now()
     FROM run WHERE id = $1`,
    [scheduleId, taskId],
  );
}

/** The task a schedule's tick creates, as any submit would make it. */
function scheduledTask(s: Schedule, id: string, tick: Date): NewTask {
  return {
    id,
    queue: s.queue,
    command: s.command,
    handler: s.handler,
    payload: s.payload ?? null,
    payloadJson: s.payload === undefined || s.payload === null ? null : JSON.stringify(s.payload),
    priority: s.priority,
    runAt: tick,
    maxAttempts: s.maxAttempts,
    timeoutMs: s.timeoutMs,
    backoffBaseMs: null,
    backoffMaxMs: null,
    idempotencyKey: `schedule:${s.id}:${tick.toISOString()}`,
    concurrencyKey: null,
    traceContext: null,
  };
}
