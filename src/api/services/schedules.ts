import { handlerName } from '../../lib/command.js';
import { nextRuns, parseCron } from '../../lib/cron.js';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors.js';
import type { Db } from '../../store/db.js';
import {
  deleteSchedule,
  getSchedule,
  insertSchedule,
  listScheduleRuns,
  listSchedules,
  updateSchedule,
  type NewSchedule,
  type Schedule,
  recordManualRun,
  type ScheduleRun,
} from '../../store/schedules.js';
import type { Task } from '../../store/types.js';
import type { CreateScheduleInput, UpdateScheduleInput } from '../schemas/admin.js';
import { isUuid, payloadJsonOf } from './submit.js';
import { guardDb } from './guard.js';
import type { TasksApi } from './tasks.js';

/** How many upcoming runs a schedule shows. */
const SHOWN_RUNS = 5;

/** A schedule as the API shows it. */
export function scheduleToJson(s: Schedule, runs?: ScheduleRun[]) {
  const cron = parseCron(s.cron, s.timezone);
  return {
    id: s.id,
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    command: s.command,
    payload: s.payload,
    queue: s.queue,
    priority: s.priority,
    max_attempts: s.maxAttempts,
    timeout_ms: s.timeoutMs,
    misfire: s.misfire,
    catch_up_limit: s.catchUpLimit,
    paused: s.paused,
    next_run_at: s.paused ? null : s.nextRunAt.toISOString(),
    // The stored next run, then the runs after it: the same function the ticker fires by.
    next_runs: s.paused
      ? []
      : [s.nextRunAt, ...nextRuns(cron, s.nextRunAt, SHOWN_RUNS - 1)].map((d) => d.toISOString()),
    last_run_at: s.lastRunAt?.toISOString() ?? null,
    last_task_id: s.lastTaskId,
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
    ...(runs
      ? {
          recent_runs: runs.map((r) => ({
            tick: r.tick.toISOString(),
            task_id: r.taskId,
            trigger: r.manual ? 'manual' : 'cron',
          })),
        }
      : {}),
  };
}

/**
 * Ids and names share the routes (`/v1/schedules/:ref`), so a name shaped like an id could
 * pass for another schedule.
 * @throws ValidationError naming `name`.
 */
function checkName(name: string): void {
  if (isUuid(name))
    throw new ValidationError(
      'name must not look like a schedule id (a UUID): ids and names share the same routes',
      'name',
    );
}

/** Cron schedule operations behind the /v1/schedules routes. */
export class SchedulesApi {
  /** @param tasks submits triggered runs, with the same checks and limits as any submit. */
  constructor(
    private readonly db: Db,
    private readonly tasks: TasksApi,
  ) {}

  async create(input: CreateScheduleInput): Promise<Schedule> {
    checkName(input.name);
    const s = this.prepare(input);
    return guardDb(() => insertSchedule(this.db, s)).catch((err: unknown) => {
      if ((err as { code?: string }).code === '23505')
        throw new ConflictError(`a schedule named "${input.name}" already exists`);
      throw err;
    });
  }

  async get(ref: string): Promise<{ schedule: Schedule; runs: ScheduleRun[] }> {
    const schedule = await this.find(ref);
    return { schedule, runs: await guardDb(() => listScheduleRuns(this.db, schedule.id)) };
  }

  list(): Promise<Schedule[]> {
    return guardDb(() => listSchedules(this.db));
  }

  /** Changes some fields. A new cron, time zone or a resume recomputes the next run from now. */
  async update(ref: string, patch: UpdateScheduleInput): Promise<Schedule> {
    const current = await this.find(ref);
    if (patch.name !== undefined && patch.name !== current.name) checkName(patch.name);
    const merged: CreateScheduleInput = {
      name: patch.name ?? current.name,
      cron: patch.cron ?? current.cron,
      command: patch.command ?? current.command,
      timezone: patch.timezone ?? current.timezone,
      payload: patch.payload !== undefined ? patch.payload : current.payload,
      queue: patch.queue ?? current.queue,
      priority: patch.priority ?? current.priority,
      max_attempts: patch.max_attempts !== undefined ? patch.max_attempts : current.maxAttempts,
      timeout_ms: patch.timeout_ms !== undefined ? patch.timeout_ms : current.timeoutMs,
      misfire: patch.misfire ?? current.misfire,
      catch_up_limit: patch.catch_up_limit ?? current.catchUpLimit,
      paused: patch.paused ?? current.paused,
    };
    const next = this.prepare(merged);
    const keepNext =
      merged.cron === current.cron &&
      merged.timezone === current.timezone &&
      !(current.paused && !merged.paused);
    if (keepNext) next.nextRunAt = current.nextRunAt;
    const updated = await guardDb(() => updateSchedule(this.db, current.id, next)).catch(
      (err: unknown) => {
        if ((err as { code?: string }).code === '23505')
          throw new ConflictError(`a schedule named "${merged.name}" already exists`);
        throw err;
      },
    );
    if (!updated) throw new NotFoundError(`no schedule "${ref}"`);
    return updated;
  }

  async remove(ref: string): Promise<void> {
    const s = await this.find(ref);
    await guardDb(() => deleteSchedule(this.db, s.id));
  }

  /**
   * Runs the schedule's command now, as a one-off task submitted like any other (so queue
   * backpressure applies); the schedule itself is unchanged.
   * @throws RateLimitedError when the queue is at its depth limit.
   */
  async trigger(ref: string): Promise<Task> {
    const s = await this.find(ref);
    const { task } = await this.tasks.submit({
      command: s.command,
      ...(s.payload !== null && s.payload !== undefined ? { payload: s.payload } : {}),
      queue: s.queue,
      priority: s.priority,
      ...(s.maxAttempts ? { max_attempts: s.maxAttempts } : {}),
      ...(s.timeoutMs ? { timeout_ms: s.timeoutMs } : {}),
    });
    await guardDb(() => recordManualRun(this.db, s.id, task.id));
    return task;
  }

  private async find(ref: string): Promise<Schedule> {
    const s = await guardDb(() => getSchedule(this.db, ref));
    if (!s) throw new NotFoundError(`no schedule with id or name "${ref}"`);
    return s;
  }

  private prepare(input: CreateScheduleInput): NewSchedule {
    payloadJsonOf(input.payload); // the tasks it fires must be storable
    const timezone = input.timezone ?? 'UTC';
    const cron = parseCron(input.cron, timezone);
    const handler = handlerName(input.command);
    if (!handler) throw new ValidationError('command must start with a handler name', 'command');
    const next = cron.nextRun(new Date());
    if (!next) throw new ValidationError(`cron "${input.cron}" never fires`, 'cron');
    return {
      name: input.name,
      cron: input.cron.trim(),
      timezone,
      command: input.command,
      handler,
      payload: input.payload ?? null,
      queue: input.queue ?? 'default',
      priority: input.priority ?? 0,
      maxAttempts: input.max_attempts ?? null,
      timeoutMs: input.timeout_ms ?? null,
      misfire: input.misfire ?? 'run_once',
      catchUpLimit: input.catch_up_limit ?? 100,
      paused: input.paused ?? false,
      nextRunAt: next,
    };
  }
}
