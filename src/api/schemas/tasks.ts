import { Type, type Static } from '@sinclair/typebox';
import { TASK_LIMITS } from '../../lib/limits.js';
import { TASK_STATUSES, type TaskStatus } from '../../store/types.js';
import {
  QUEUE_NAME_MAX_LENGTH,
  QUEUE_NAME_PATTERN,
  QUEUE_NAME_RULE,
} from '../../lib/queue-name.js';

/**
 * TypeBox schemas: one definition gives request validation, TypeScript types and the
 * OpenAPI document. Limits live here so every surface (REST, gRPC, SDK) enforces the same.
 */

export const LIMITS = {
  commandLength: TASK_LIMITS.commandLength,
  queueLength: QUEUE_NAME_MAX_LENGTH,
  idempotencyKeyLength: TASK_LIMITS.idempotencyKeyLength,
  maxAttempts: TASK_LIMITS.maxAttempts,
  timeoutMs: TASK_LIMITS.timeoutMs,
  priority: TASK_LIMITS.priority,
  backoffMs: TASK_LIMITS.backoffMs,
  pageSize: 500,
  batchSize: 5000,
  /** Ids one bulk action takes, and tasks one bulk action by filter changes. */
  bulkSize: 1000,
  /** The task list's total is exact up to this many. */
  totalCap: 10_000,
} as const;

/** A queue name, wherever one is accepted (see queue-name.ts for the rule). */
export const QueueName = (options: { default?: string; description?: string } = {}) =>
  Type.String({
    minLength: 1,
    maxLength: QUEUE_NAME_MAX_LENGTH,
    pattern: QUEUE_NAME_PATTERN,
    description: options.description ?? `Queue name: ${QUEUE_NAME_RULE}.`,
    ...(options.default === undefined ? {} : { default: options.default }),
  });

/** The queue-name pattern, for schemas built elsewhere (prefer {@link QueueName}). */
export const QUEUE_PATTERN = QUEUE_NAME_PATTERN;

const timestamp = (what: string) =>
  Type.String({
    description: `${what} RFC 3339 with any offset, e.g. 2023-12-24T22:34:00+05:30. Stored as UTC.`,
    maxLength: 64,
    examples: ['2030-04-01T15:04:05Z'],
  });

/** A task's required worker labels: up to 20 short label names, each with its value. */
const Requires = () =>
  Type.Record(
    Type.String({ pattern: '^[A-Za-z0-9_.:/-]{1,64}$' }),
    Type.String({ maxLength: 200 }),
    {
      maxProperties: 20,
      additionalProperties: false,
      description:
        'Labels a worker must have to be handed this task ({"region": "eu", "gpu": "true"}): names of 1-64 letters, digits and _ . : / -, values up to 200 characters, at most 20. Until such a worker connects the task waits, and waiting_for says so.',
    },
  );

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
    queue: Type.Optional(QueueName({ default: 'default' })),
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
    rate_key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: LIMITS.idempotencyKeyLength,
        description:
          "Tasks sharing a key start at most the queue's key_rate_limit per period (e.g. an API account). Without that limit the key limits nothing.",
      }),
    ),
    group: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: LIMITS.idempotencyKeyLength,
        description:
          "The group it shares its queue with others by (a tenant, a customer): groups are claimed round robin, weighted by the queue's group_weights, so one group's backlog does not hold up another's tasks.",
      }),
    ),
    sticky_key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: LIMITS.idempotencyKeyLength,
        description:
          'Tasks sharing a key (e.g. a session or a cache shard) prefer the worker that took the last one, while that worker is connected and has a free slot; otherwise another takes it and becomes the preferred one. A preference, never a wait.',
      }),
    ),
    requires: Type.Optional(Requires()),
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
    // Required, as the seed's own server has it; /v1/tasks is the route where run_at may be left out.
    scheduled_at: timestamp('When to run (RFC 3339, any offset).'),
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
  worker_name: Type.Union([Type.String(), Type.Null()], {
    description: 'The name the worker announced, when it is still known.',
  }),
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
  rate_key: Type.Union([Type.String(), Type.Null()], {
    description: "Counted against the queue's key_rate_limit, with the other tasks of this key.",
  }),
  group: Type.Union([Type.String(), Type.Null()], {
    description:
      "Its group in the queue's round robin (group_weights); null: the tasks of no group, which take turns as one group.",
  }),
  workflow_id: Type.Union([Type.String(), Type.Null()], {
    description: 'The workflow it is a task of (GET /v1/workflows/:id), or null.',
  }),
  workflow_key: Type.Union([Type.String(), Type.Null()]),
  parent_task_id: Type.Union([Type.String(), Type.Null()], {
    description: 'The task that spawned it and waits for it (ctx.waitFor), or null.',
  }),
  sticky_key: Type.Union([Type.String(), Type.Null()], {
    description: 'Tasks sharing it prefer the worker that took the last one; null: none.',
  }),
  requires: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()], {
    description: 'Labels a worker must have to be handed it; null: any worker.',
  }),
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
  worker_name: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description: 'One task only: the name its current worker announced, when known.',
    }),
  ),
  waiting_for: Type.Optional(
    Type.String({
      description:
        'One task only: why a due task is still pending, when known: its queue is paused, a rate limit is used up (which one, and when the task may start), or no connected worker handles it (with the labels it requires).',
    }),
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
    queue: Type.Optional(QueueName()),
    command: Type.Optional(
      Type.String({
        maxLength: LIMITS.commandLength,
        description: 'One word matches the handler name; with spaces, the whole command.',
      }),
    ),
    worker: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description:
          "A worker's id: the tasks whose latest attempt ran, or runs, on it (GET /v1/workers lists ids).",
      }),
    ),
    created_after: Type.Optional(timestamp('Tasks created at or after this instant:')),
    created_before: Type.Optional(timestamp('Tasks created before this instant:')),
    idempotency_key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: LIMITS.idempotencyKeyLength,
        description: 'The task submitted with this idempotency key (at most one).',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.pageSize, default: 50 })),
    cursor: Type.Optional(
      Type.String({ maxLength: 128, description: 'next_cursor from the previous page.' }),
    ),
    include_total: Type.Optional(
      Type.Boolean({
        default: true,
        description: `Count the tasks that match (total, exact up to ${LIMITS.totalCap}). false skips the count, e.g. when paging through everything.`,
      }),
    ),
  },
  { additionalProperties: false },
);
export type ListTasksQueryType = Static<typeof ListTasksQuery>;

export const TaskPage = Type.Object({
  items: Type.Array(TaskJson),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
  total: Type.Union([Type.Integer(), Type.Null()], {
    description: `Tasks matching the filters, on every page: exact up to ${LIMITS.totalCap}, then ${LIMITS.totalCap} with total_capped. Null with include_total=false.`,
  }),
  total_capped: Type.Boolean({
    description: `True when more than ${LIMITS.totalCap} tasks match: total is then a lower bound ("${LIMITS.totalCap.toLocaleString('en-US')}+").`,
  }),
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
