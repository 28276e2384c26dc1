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
import type {
  CreateScheduleInput,
  ScheduleWorkflowInput,
  UpdateScheduleInput,
} from '../schemas/schedules.js';
import { isUuid, payloadJsonOf } from './submit.js';
import { guardDb } from './guard.js';
import type { TasksApi } from './tasks.js';
import { buildWorkflow } from './workflow-graph.js';
import type { WorkflowsApi, WorkflowView } from './workflows.js';

/** How many upcoming runs a schedule shows. */
const SHOWN_RUNS = 5;

/** A schedule as the API shows it. */
export function scheduleToJson(s: Schedule, runs?: ScheduleRun[]) {
  const cron = parseCron(s.cron, s.timezone);
  const isTask = s.workflow === null;
  return {
    id: s.id,
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    kind: isTask ? ('task' as const) : ('workflow' as const),
    command: s.command,
    workflow: isTask ? null : (s.workflow as ScheduleWorkflowInput),
    payload: s.payload,
    // The task fields say nothing about a workflow schedule, whose tasks carry their own.
    queue: isTask ? s.queue : null,
    priority: isTask ? s.priority : null,
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
    last_workflow_id: s.lastWorkflowId,
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
    ...(runs
      ? {
          recent_runs: runs.map((r) => ({
            tick: r.tick.toISOString(),
            task_id: r.taskId ?? null,
            workflow_id: r.workflowId ?? null,
            trigger: r.manual ? ('manual' as const) : ('cron' as const),
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

/** The fields of a task schedule that a workflow schedule does not take. */
const TASK_FIELDS = ['payload', 'queue', 'priority', 'max_attempts', 'timeout_ms'] as const;

/** What a trigger by hand started: a task schedule's task, or a workflow schedule's workflow. */
export type TriggeredRun =
  | { kind: 'task'; task: Task }
  | { kind: 'workflow'; workflow: WorkflowView };

/** Cron schedule operations behind the /v1/schedules routes. */
export class SchedulesApi {
  /**
   * @param tasks submits triggered runs of task schedules, with the same checks and limits
   *   as any submit.
   * @param workflows submits triggered runs of workflow schedules, as POST /v1/workflows does.
   */
  constructor(
    private readonly db: Db,
    private readonly tasks: TasksApi,
    private readonly workflows: WorkflowsApi,
  ) {}

  /** @throws ValidationError naming the field, ConflictError for a taken name. */
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

  /**
   * Changes some fields. A new cron, time zone or a resume recomputes the next run from now.
   * `command` turns a workflow schedule into a task schedule, and `workflow` the other way.
   */
  async update(ref: string, patch: UpdateScheduleInput): Promise<Schedule> {
    const current = await this.find(ref);
    if (patch.name !== undefined && patch.name !== current.name) checkName(patch.name);
    checkOneKind(patch, false);
    const workflow =
      patch.command !== undefined
        ? undefined
        : (patch.workflow ?? (current.workflow as ScheduleWorkflowInput | null) ?? undefined);
    const merged: CreateScheduleInput = {
      name: patch.name ?? current.name,
      cron: patch.cron ?? current.cron,
      timezone: patch.timezone ?? current.timezone,
      misfire: patch.misfire ?? current.misfire,
      catch_up_limit: patch.catch_up_limit ?? current.catchUpLimit,
      paused: patch.paused ?? current.paused,
      ...(workflow !== undefined
        ? // A workflow schedule keeps no task fields: only a patch can bring one (refused).
          { workflow, ...pick(patch, TASK_FIELDS) }
        : {
            command: patch.command ?? (current.command as string),
            payload: patch.payload !== undefined ? patch.payload : current.payload,
            queue: patch.queue ?? current.queue,
            priority: patch.priority ?? current.priority,
            max_attempts:
              patch.max_attempts !== undefined ? patch.max_attempts : current.maxAttempts,
            timeout_ms: patch.timeout_ms !== undefined ? patch.timeout_ms : current.timeoutMs,
          }),
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
   * Runs the schedule now, once: a task schedule's command as a one-off task submitted like
   * any other (so queue backpressure applies), a workflow schedule's workflow as POST
   * /v1/workflows submits it. The schedule's next cron run is unchanged.
   * @throws RateLimitedError when the queue is at its depth limit.
   */
  async trigger(ref: string): Promise<TriggeredRun> {
    const s = await this.find(ref);
    if (s.workflow !== null) {
      const { workflow } = await this.workflows.submit(s.workflow as ScheduleWorkflowInput);
      await guardDb(() => recordManualRun(this.db, s.id, { workflowId: workflow.id }));
      return { kind: 'workflow', workflow };
    }
    const { task } = await this.tasks.submit({
      command: s.command as string,
      ...(s.payload !== null && s.payload !== undefined ? { payload: s.payload } : {}),
      queue: s.queue,
      priority: s.priority,
      ...(s.maxAttempts ? { max_attempts: s.maxAttempts } : {}),
      ...(s.timeoutMs ? { timeout_ms: s.timeoutMs } : {}),
    });
    await guardDb(() => recordManualRun(this.db, s.id, { taskId: task.id }));
    return { kind: 'task', task };
  }

  private async find(ref: string): Promise<Schedule> {
    const s = await guardDb(() => getSchedule(this.db, ref));
    if (!s) throw new NotFoundError(`no schedule with id or name "${ref}"`);
    return s;
  }

  /** @throws ValidationError naming the field. */
  private prepare(input: CreateScheduleInput): NewSchedule {
    checkOneKind(input, true);
    const timezone = input.timezone ?? 'UTC';
    const cron = parseCron(input.cron, timezone);
    const next = cron.nextRun(new Date());
    if (!next) throw new ValidationError(`cron "${input.cron}" never fires`, 'cron');
    const schedule = {
      name: input.name,
      cron: input.cron.trim(),
      timezone,
      misfire: input.misfire ?? 'run_once',
      catchUpLimit: input.catch_up_limit ?? 100,
      paused: input.paused ?? false,
      nextRunAt: next,
    };
    if (input.workflow !== undefined)
      return { ...schedule, ...workflowSchedule(input.workflow, input) };
    payloadJsonOf(input.payload); // the tasks it fires must be storable
    const command = input.command as string;
    const handler = handlerName(command);
    if (!handler) throw new ValidationError('command must start with a handler name', 'command');
    return {
      ...schedule,
      command,
      handler,
      payload: input.payload ?? null,
      queue: input.queue ?? 'default',
      priority: input.priority ?? 0,
      maxAttempts: input.max_attempts ?? null,
      timeoutMs: input.timeout_ms ?? null,
    };
  }
}

/**
 * A schedule starts a task or a workflow: a create gives exactly one of `command` and
 * `workflow`, a change at most one.
 * @throws ValidationError naming the field.
 */
function checkOneKind(input: { command?: string; workflow?: unknown }, creating: boolean): void {
  if (input.command !== undefined && input.workflow !== undefined)
    throw new ValidationError(
      'give either command or workflow, not both: each tick starts one task or one workflow',
      'workflow',
    );
  if (creating && input.command === undefined && input.workflow === undefined)
    throw new ValidationError(
      'command is required, or workflow: what each tick starts, a task or a workflow',
      'command',
    );
}

/**
 * The stored fields of a workflow schedule, after the checks a submit of its workflow would
 * make (so a tick never meets a body it cannot start).
 * @throws ValidationError naming the field, under `workflow.` for the workflow's own.
 */
function workflowSchedule(
  workflow: ScheduleWorkflowInput,
  input: CreateScheduleInput,
): Pick<
  NewSchedule,
  | 'command'
  | 'handler'
  | 'workflow'
  | 'payload'
  | 'queue'
  | 'priority'
  | 'maxAttempts'
  | 'timeoutMs'
> {
  for (const field of TASK_FIELDS)
    if (input[field] !== undefined)
      throw new ValidationError(
        `${field} is a field of a task schedule; a workflow schedule's tasks carry their own (workflow.tasks)`,
        field,
      );
  const timed = [
    ...workflow.tasks.map((t, i) => ({ t, at: `workflow.tasks.${i}` })),
    ...(workflow.on_failure ? [{ t: workflow.on_failure, at: 'workflow.on_failure' }] : []),
  ].find(({ t }) => t.run_at !== undefined);
  if (timed)
    throw new ValidationError(
      `${timed.at}.run_at: the tasks of a scheduled workflow start when the schedule fires; leave run_at out`,
      `${timed.at}.run_at`,
    );
  try {
    buildWorkflow(workflow);
  } catch (err) {
    if (err instanceof ValidationError)
      throw new ValidationError(
        `workflow.${err.message}`,
        `workflow${err.field ? `.${err.field}` : ''}`,
      );
    throw err;
  }
  return {
    command: null,
    handler: null,
    workflow,
    payload: null,
    queue: 'default',
    priority: 0,
    maxAttempts: null,
    timeoutMs: null,
  };
}

/** The fields of `input` that are named and set. */
function pick<T extends object, K extends keyof T>(
  input: T,
  keys: readonly K[],
): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (input[k] !== undefined) out[k] = input[k];
  return out;
}
