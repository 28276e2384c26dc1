import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  CreateScheduleBody as TaskScheduleBody,
  ScheduleJson as TaskScheduleJson,
} from './admin.js';
import { SubmitWorkflowBody } from './workflows.js';

/**
 * Schemas of the /v1/schedules routes. A schedule starts a task (`command`, with the task
 * fields of admin.ts beside it) or a workflow (`workflow`) at each tick; the service checks
 * that exactly one of the two is given.
 */

const { idempotency_key: _runKey, ...workflowFields } = SubmitWorkflowBody.properties;

/**
 * The workflow a schedule starts: the body of POST /v1/workflows, without idempotency_key
 * (each run gets its own, `schedule:<schedule id>:<tick>`).
 */
export const ScheduleWorkflowBody = Type.Object(workflowFields, {
  additionalProperties: false,
  description:
    'The workflow each tick starts: the body of POST /v1/workflows, without idempotency_key (each run gets `schedule:<id>:<tick>`). Its tasks take no run_at. Give either this or command.',
});
export type ScheduleWorkflowInput = Static<typeof ScheduleWorkflowBody>;

export const CreateScheduleBody = Type.Object(
  {
    ...TaskScheduleBody.properties,
    command: Type.Optional(
      Type.String({
        ...TaskScheduleBody.properties.command,
        description:
          'The command of the task each tick submits. Give either this or workflow; the other task fields (payload, queue, priority, max_attempts, timeout_ms) go with it.',
      }),
    ),
    workflow: Type.Optional(ScheduleWorkflowBody),
  },
  { additionalProperties: false },
);
export type CreateScheduleInput = Static<typeof CreateScheduleBody>;

/** Fields left out keep their value; `command` or `workflow` switches what the schedule starts. */
export const UpdateScheduleBody = Type.Partial(CreateScheduleBody, { additionalProperties: false });
export type UpdateScheduleInput = Static<typeof UpdateScheduleBody>;

const nullable = <T extends TSchema>(t: T, description: string) =>
  Type.Union([t, Type.Null()], { description });

/** A run of a schedule: what it started, a task or a workflow. */
const ScheduleRunJson = Type.Object({
  tick: Type.String({
    format: 'date-time',
    description: 'The cron tick, or when it was triggered.',
  }),
  task_id: nullable(Type.String(), 'The task it started; null for a workflow schedule.'),
  workflow_id: nullable(Type.String(), 'The workflow it started; null for a task schedule.'),
  trigger: Type.Union([Type.Literal('cron'), Type.Literal('manual')]),
});

export const ScheduleJson = Type.Object({
  ...TaskScheduleJson.properties,
  kind: Type.Union([Type.Literal('task'), Type.Literal('workflow')], {
    description: 'What each tick starts.',
  }),
  command: nullable(Type.String(), 'The task command; null for a workflow schedule.'),
  // As stored: described, not re-shaped (a response schema would write its defaults in).
  workflow: Type.Union(
    [
      Type.Object(
        {},
        {
          additionalProperties: true,
          description:
            'The body of POST /v1/workflows each tick submits (name, tasks, on_failure).',
        },
      ),
      Type.Null(),
    ],
    { description: 'The workflow each tick starts; null for a task schedule.' },
  ),
  queue: nullable(Type.String(), "The task's queue; null for a workflow schedule."),
  priority: nullable(Type.Integer(), "The task's priority; null for a workflow schedule."),
  last_task_id: nullable(Type.String(), 'The task its latest run started, if a task.'),
  last_workflow_id: nullable(Type.String(), 'The workflow its latest run started, if one.'),
  recent_runs: Type.Optional(Type.Array(ScheduleRunJson)),
});
