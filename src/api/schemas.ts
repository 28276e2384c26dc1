import { Type, type Static } from '@sinclair/typebox';
import { TASK_STATUSES, type TaskStatus } from '../store/tasks.js';

/**
 * TypeBox schemas: one definition gives request validation, TypeScript types and the
 * OpenAPI document. Limits live here so every surface (REST, gRPC, SDK) enforces the same.
 */

export const LIMITS = {
  commandLength: 8192,
  queueLength: 64,
  idempotencyKeyLength: 255,
  maxAttempts: 100,
  timeoutMs: 7 * 24 * 3_600_000,
  priority: 1000,
  backoffMs: 24 * 3_600_000,
  pageSize: 500,
  batchSize: 5000,
} as const;

export const QUEUE_PATTERN = '^[A-Za-z0-9_.:-]+$';

const timestamp = (what: string) =>
  Type.String({
    description: `${what} RFC 3339 with any offset, e.g. 2023-12-24T22:34:00+05:30. Stored as UTC.`,
    maxLength: 64,
    examples: ['2030-04-01T15:04:05Z'],
  });

export const SubmitTaskBody = Type.Object(
  {
    command: Type.String({
      minLength: 1,
      maxLength: LIMITS.commandLength,
      description: 'The first word names the handler; the rest are its arguments (ctx.args).',
      examples: ['echo hi'],
    }),
    payload: Type.Optional(
      Type.Unknown({ description: 'Structured input for the handler (any JSON).' }),
    ),
    queue: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: LIMITS.queueLength,
        pattern: QUEUE_PATTERN,
        default: 'default',
      }),
    ),
    priority: Type.Optional(
      Type.Integer({
        minimum: -LIMITS.priority,
        maximum: LIMITS.priority,
        default: 0,
        description: 'Higher runs first.',
      }),
    ),
    run_at: Type.Optional(timestamp('When to run. Default: now.')),
    max_attempts: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: LIMITS.maxAttempts,
        description: "Attempts in all. Default: the queue's setting, else 3.",
      }),
    ),
    timeout_ms: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: LIMITS.timeoutMs,
        description: 'Per attempt. Default: none.',
      }),
    ),
    backoff_ms: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: LIMITS.backoffMs,
        description:
          "First retry delay; doubles per attempt, with jitter (50-100%). Default: the queue's setting, else 1000.",
      }),
    ),
    backoff_max_ms: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: LIMITS.backoffMs,
        description: "Cap on the retry delay. Default: the queue's setting, else 300000.",
      }),
    ),
    concurrency_key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: LIMITS.idempotencyKeyLength,
        description:
          "Tasks sharing a key run at most the queue's key_concurrency_limit at a time (e.g. a customer id). The queue must have that limit.",
      }),
    ),
    idempotency_key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: LIMITS.idempotencyKeyLength,
        description:
          'Submitting the same key again returns the existing task (200) instead of creating one.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type SubmitTaskInput = Static<typeof SubmitTaskBody>;

export const SubmitBatchBody = Type.Object(
  {
    tasks: Type.Array(SubmitTaskBody, {
      minItems: 1,
      maxItems: LIMITS.batchSize,
      description: `1 to ${LIMITS.batchSize} tasks, stored in one statement: all or none.`,
    }),
  },
  { additionalProperties: false },
);
export type SubmitBatchInput = Static<typeof SubmitBatchBody>;

export const SubmitBatchResponse = Type.Object({
  items: Type.Array(
    Type.Object({
      id: Type.String({ format: 'uuid' }),
      status: Type.String(),
      created: Type.Boolean({
        description: 'False when an existing task held the idempotency key.',
      }),
    }),
    { description: 'One per submitted task, in order.' },
  ),
  created: Type.Integer({ description: 'How many tasks were new.' }),
});

/** The seed's POST /schedule body. */
export const ScheduleBody = Type.Object(
  {
    command: SubmitTaskBody.properties.command,
    scheduled_at: Type.Optional(timestamp('When to run. Default: now.')),
  },
  { additionalProperties: false },
);
export type ScheduleInput = Static<typeof ScheduleBody>;

const NullableTime = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

// An enum (not a union of literals) so a bad value gets one clear error listing the choices.
export const TaskStatusSchema = Type.Unsafe<TaskStatus>({
  type: 'string',
  enum: [...TASK_STATUSES],
});

export const AttemptJson = Type.Object({
  attempt: Type.Integer(),
  worker_id: Type.Union([Type.String(), Type.Null()]),
  picked_at: NullableTime,
  started_at: NullableTime,
  finished_at: Type.String({ format: 'date-time' }),
  outcome: Type.String({ description: 'succeeded, failed, timeout, lease_expired or cancelled' }),
  error: Type.Union([Type.String(), Type.Null()]),
});

export const TaskJson = Type.Object({
  id: Type.String({ format: 'uuid' }),
  queue: Type.String(),
  command: Type.String(),
  payload: Type.Unknown(),
  priority: Type.Integer(),
  status: TaskStatusSchema,
  run_at: Type.String({ format: 'date-time' }),
  attempt: Type.Integer({
    description: 'Attempts started so far; the fencing token of the current one.',
  }),
  max_attempts: Type.Integer(),
  timeout_ms: Type.Union([Type.Integer(), Type.Null()]),
  backoff_ms: Type.Integer(),
  backoff_max_ms: Type.Integer(),
  worker_id: Type.Union([Type.String(), Type.Null()]),
  idempotency_key: Type.Union([Type.String(), Type.Null()]),
  concurrency_key: Type.Union([Type.String(), Type.Null()]),
  progress: Type.Union(
    [Type.Object({ percent: Type.Number(), message: Type.String() }), Type.Null()],
    {
      description: 'The latest progress the running handler reported.',
    },
  ),
  result: Type.Unknown(),
  error: Type.Union([Type.String(), Type.Null()]),
  executor: Type.Union([Type.String({ description: '"handler" or "shell"' }), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  picked_at: NullableTime,
  started_at: NullableTime,
  completed_at: NullableTime,
  failed_at: NullableTime,
  cancelled_at: NullableTime,
  waiting_for: Type.Optional(
    Type.String({ description: 'Why a due task is still pending, when known.' }),
  ),
  attempts: Type.Optional(Type.Array(AttemptJson)),
});
export type TaskJsonType = Static<typeof TaskJson>;

export const TaskIdParams = Type.Object({
  id: Type.String({ description: 'Task id (UUID).', maxLength: 64 }),
});

export const RetryBody = Type.Object(
  {
    max_attempts: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: LIMITS.maxAttempts,
        description: 'Attempts to allow from now on.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Optional: the body may be left out.' },
);

export const ListTasksQuery = Type.Object(
  {
    status: Type.Optional(TaskStatusSchema),
    queue: Type.Optional(Type.String({ maxLength: LIMITS.queueLength })),
    command: Type.Optional(
      Type.String({
        maxLength: LIMITS.commandLength,
        description: 'One word matches the handler name; with spaces, the whole command.',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.pageSize, default: 50 })),
    cursor: Type.Optional(
      Type.String({ maxLength: 128, description: 'next_cursor from the previous page.' }),
    ),
  },
  { additionalProperties: false },
);
export type ListTasksQueryType = Static<typeof ListTasksQuery>;

export const TaskPage = Type.Object({
  items: Type.Array(TaskJson),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});

export const ErrorJson = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    field: Type.Optional(Type.String()),
  }),
});

export const StatusQuery = Type.Object({
  task_id: Type.String({ maxLength: 64, description: 'The task_id from POST /schedule.' }),
});

export const SeedStatusJson = Type.Object({
  task_id: Type.String(),
  command: Type.String(),
  status: TaskStatusSchema,
  scheduled_at: Type.String({ format: 'date-time' }),
  picked_at: Type.Optional(Type.String({ format: 'date-time' })),
  started_at: Type.Optional(Type.String({ format: 'date-time' })),
  completed_at: Type.Optional(Type.String({ format: 'date-time' })),
  failed_at: Type.Optional(Type.String({ format: 'date-time' })),
});

export const ScheduleResponse = Type.Object({
  command: Type.String(),
  scheduled_at: Type.String({ format: 'date-time' }),
  task_id: Type.String(),
});

export const QueueJson = Type.Object({
  name: Type.String(),
  paused: Type.Boolean(),
  due: Type.Integer({ description: 'Pending and due now.' }),
  scheduled: Type.Integer({
    description: 'Pending with a future run_at, including retries in backoff.',
  }),
  running: Type.Integer(),
  dead: Type.Integer(),
  oldest_due_age_ms: Type.Union([Type.Integer(), Type.Null()], {
    description: 'How long the oldest due task has waited.',
  }),
  max_attempts: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Default for tasks that set none; null: 3.',
  }),
  backoff_ms: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Default first retry delay; null: 1000.',
  }),
  backoff_max_ms: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Default retry delay cap; null: 300000.',
  }),
  concurrency_limit: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Most tasks running at once, across all workers; null: no limit.',
  }),
  key_concurrency_limit: Type.Union([Type.Integer(), Type.Null()], {
    description:
      'Most tasks with the same concurrency_key running at once; null: keys not allowed here.',
  }),
});

export const QueueNameParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: LIMITS.queueLength, pattern: QUEUE_PATTERN }),
});

export const QueueSettingsBody = Type.Object(
  {
    max_attempts: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: LIMITS.maxAttempts }), Type.Null()]),
    ),
    backoff_ms: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0, maximum: LIMITS.backoffMs }), Type.Null()]),
    ),
    backoff_max_ms: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0, maximum: LIMITS.backoffMs }), Type.Null()]),
    ),
    concurrency_limit: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()]),
    ),
    key_concurrency_limit: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()]),
    ),
  },
  {
    additionalProperties: false,
    description: 'Defaults for tasks of this queue that set none. null clears a setting.',
  },
);
export type QueueSettingsInput = Static<typeof QueueSettingsBody>;

export const WorkerJson = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: Type.String({ description: 'live, silent (no heartbeat lately) or disconnected' }),
  queues: Type.Array(Type.String()),
  handlers: Type.Array(Type.String()),
  accepts_any_command: Type.Boolean({
    description: 'Runs any command as a shell line (--allow-shell).',
  }),
  concurrency: Type.Integer(),
  running: Type.Integer(),
  labels: Type.Record(Type.String(), Type.String()),
  version: Type.Union([Type.String(), Type.Null()]),
  coordinator_id: Type.Union([Type.String(), Type.Null()]),
  first_seen_at: Type.String({ format: 'date-time' }),
  last_seen_at: Type.String({ format: 'date-time' }),
  disconnected_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const MISFIRE = Type.Unsafe<'skip' | 'run_once' | 'run_all'>({
  type: 'string',
  enum: ['skip', 'run_once', 'run_all'],
  description:
    'After downtime: skip (fire only a tick that is still on time), run_once (fire the latest missed tick once), run_all (fire every missed tick, up to catch_up_limit).',
});

const scheduleFields = {
  name: Type.String({
    minLength: 1,
    maxLength: 128,
    pattern: '^[A-Za-z0-9_.:-]+$',
    description: 'Unique; usable in place of the id.',
  }),
  cron: Type.String({
    minLength: 1,
    maxLength: 200,
    description: '5 fields (minute hour day month weekday), or 6 with seconds first.',
    examples: ['*/5 * * * *'],
  }),
  timezone: Type.String({
    minLength: 1,
    maxLength: 64,
    description: 'IANA time zone. Default UTC.',
  }),
  command: SubmitTaskBody.properties.command,
  payload: Type.Unknown({ description: 'Passed to every task the schedule creates.' }),
  queue: Type.String({ minLength: 1, maxLength: LIMITS.queueLength, pattern: QUEUE_PATTERN }),
  priority: Type.Integer({ minimum: -LIMITS.priority, maximum: LIMITS.priority }),
  max_attempts: Type.Union([
    Type.Integer({ minimum: 1, maximum: LIMITS.maxAttempts }),
    Type.Null(),
  ]),
  timeout_ms: Type.Union([Type.Integer({ minimum: 1, maximum: LIMITS.timeoutMs }), Type.Null()]),
  misfire: MISFIRE,
  catch_up_limit: Type.Integer({
    minimum: 1,
    maximum: 1000,
    description: 'Most missed ticks run_all fires. Default 100.',
  }),
  paused: Type.Boolean(),
};

export const CreateScheduleBody = Type.Object(
  {
    name: scheduleFields.name,
    cron: scheduleFields.cron,
    command: scheduleFields.command,
    timezone: Type.Optional(scheduleFields.timezone),
    payload: Type.Optional(scheduleFields.payload),
    queue: Type.Optional(scheduleFields.queue),
    priority: Type.Optional(scheduleFields.priority),
    max_attempts: Type.Optional(scheduleFields.max_attempts),
    timeout_ms: Type.Optional(scheduleFields.timeout_ms),
    misfire: Type.Optional(scheduleFields.misfire),
    catch_up_limit: Type.Optional(scheduleFields.catch_up_limit),
    paused: Type.Optional(scheduleFields.paused),
  },
  { additionalProperties: false },
);
export type CreateScheduleInput = Static<typeof CreateScheduleBody>;

export const UpdateScheduleBody = Type.Partial(CreateScheduleBody, { additionalProperties: false });
export type UpdateScheduleInput = Static<typeof UpdateScheduleBody>;

export const ScheduleJson = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  cron: Type.String(),
  timezone: Type.String(),
  command: Type.String(),
  payload: Type.Unknown(),
  queue: Type.String(),
  priority: Type.Integer(),
  max_attempts: Type.Union([Type.Integer(), Type.Null()]),
  timeout_ms: Type.Union([Type.Integer(), Type.Null()]),
  misfire: Type.String(),
  catch_up_limit: Type.Integer(),
  paused: Type.Boolean(),
  next_run_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'Null while paused.',
  }),
  next_runs: Type.Array(Type.String({ format: 'date-time' }), {
    description: 'The next five ticks.',
  }),
  last_run_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  last_task_id: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  recent_runs: Type.Optional(
    Type.Array(Type.Object({ tick: Type.String({ format: 'date-time' }), task_id: Type.String() })),
  ),
});

export const ScheduleRefParams = Type.Object({
  ref: Type.String({ minLength: 1, maxLength: 128, description: 'Schedule id or name.' }),
});
