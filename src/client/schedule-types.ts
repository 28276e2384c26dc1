/**
 * The shapes of the /v1/schedules routes, as the client sends and receives them
 * (docs/workflows.md#started-by-cron for workflow schedules). Field names are the API's own
 * (snake_case); times are RFC 3339 in UTC.
 */
import type { SubmitWorkflow } from './workflow-types.js';

/** What to do about ticks missed while no scheduler ran. */
export type MisfirePolicy = 'skip' | 'run_once' | 'run_all';

/**
 * The workflow a schedule starts at each tick: a workflow submit's body without
 * idempotency_key (each run gets its own, `schedule:<schedule id>:<tick>`), and with no
 * `run_at` on its tasks (they start when the schedule fires).
 */
export type ScheduleWorkflow = Omit<SubmitWorkflow, 'idempotency_key'>;

/**
 * What POST /v1/schedules takes: a name, a cron expression and what each tick starts,
 * either a task (`command`, with `payload`, `queue`, `priority`, `max_attempts` and
 * `timeout_ms`) or a workflow (`workflow`).
 */
export interface CreateSchedule {
  /** Unique; usable in place of the id. */
  name: string;
  /** 5 fields (minute hour day month weekday), or 6 with seconds first. */
  cron: string;
  /** The command of every task the schedule creates. Give this or `workflow`. */
  command?: string;
  /** The workflow every tick starts. Give this or `command`. */
  workflow?: ScheduleWorkflow;
  /** IANA time zone. @default 'UTC' */
  timezone?: string;
  payload?: unknown;
  queue?: string;
  priority?: number;
  max_attempts?: number | null;
  timeout_ms?: number | null;
  /** @default the server's ('run_once') */
  misfire?: MisfirePolicy;
  /** Most missed ticks `run_all` fires. @default 100 */
  catch_up_limit?: number;
  paused?: boolean;
}

/** A cron schedule. */
export interface Schedule {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  /** What each tick starts. */
  kind: 'task' | 'workflow';
  /** The task's command; null for a workflow schedule. */
  command: string | null;
  /** The workflow; null for a task schedule. */
  workflow: ScheduleWorkflow | null;
  payload: unknown;
  /** The task's queue; null for a workflow schedule (its tasks carry their own). */
  queue: string | null;
  /** The task's priority; null for a workflow schedule. */
  priority: number | null;
  max_attempts: number | null;
  timeout_ms: number | null;
  misfire: string;
  catch_up_limit: number;
  paused: boolean;
  /** Null while paused. */
  next_run_at: string | null;
  /** The next five ticks. */
  next_runs: string[];
  last_run_at: string | null;
  /** What the latest run started: its task, or its workflow. */
  last_task_id: string | null;
  last_workflow_id: string | null;
  created_at: string;
  updated_at: string;
  /** Recent runs and what each started (single-schedule answers only). */
  recent_runs?: Array<{
    /** The cron tick, or when it was triggered by hand. */
    tick: string;
    /** The task it started (a task schedule). */
    task_id: string | null;
    /** The workflow it started (a workflow schedule). */
    workflow_id: string | null;
    trigger: 'cron' | 'manual';
  }>;
}
