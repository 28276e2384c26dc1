import { Type, type Static } from '@sinclair/typebox';
import { LIMITS, QueueName, SubmitTaskBody } from './tasks.js';

/** Schemas of the queue, worker and schedule routes. Task schemas are in schemas.ts. */

/** Longest period a rate limit may have: one day. */
export const RATE_LIMIT_MAX_PERIOD_MS = 86_400_000;
/** Heaviest weight a group may have in the round robin. */
export const GROUP_WEIGHT_MAX = 1000;
/** Most groups a queue's group_weights may name. */
export const GROUP_WEIGHTS_MAX = 1000;

/** A rate limit: at most `count` starts in any window of `period_ms`. */
const RateLimitJson = () =>
  Type.Object(
    {
      count: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Starts allowed.' }),
      period_ms: Type.Integer({
        minimum: 1,
        maximum: RATE_LIMIT_MAX_PERIOD_MS,
        description: 'The window they are counted in, e.g. 1000 for "per second".',
      }),
    },
    { additionalProperties: false },
  );

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
  succeeded_last_minute: Type.Integer({ description: 'Tasks that succeeded in the last 60 s.' }),
  failed_last_minute: Type.Integer({
    description:
      'Tasks not succeeded whose latest attempt failed in the last 60 s (waiting to retry, or dead).',
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
  rate_limit: Type.Union([RateLimitJson(), Type.Null()], {
    description:
      'Most task starts of the queue in any window of period_ms, across all coordinators; null: no limit.',
  }),
  key_rate_limit: Type.Union([RateLimitJson(), Type.Null()], {
    description:
      'Most starts of tasks with the same rate_key in any window of period_ms; null: no limit.',
  }),
  group_weights: Type.Union([Type.Record(Type.String(), Type.Integer()), Type.Null()], {
    description: 'Weights of groups in the round robin (a group not named has 1); null: all 1.',
  }),
});

export const QueueNameParams = Type.Object({ name: QueueName() });

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
    rate_limit: Type.Optional(
      Type.Union([RateLimitJson(), Type.Null()], {
        description: 'At most count task starts of the queue in any window of period_ms.',
      }),
    ),
    key_rate_limit: Type.Optional(
      Type.Union([RateLimitJson(), Type.Null()], {
        description:
          'At most count starts of tasks with the same rate_key in any window of period_ms.',
      }),
    ),
    group_weights: Type.Optional(
      Type.Union(
        [
          Type.Record(
            Type.String({ minLength: 1, maxLength: LIMITS.idempotencyKeyLength }),
            Type.Integer({ minimum: 1, maximum: GROUP_WEIGHT_MAX }),
            { maxProperties: GROUP_WEIGHTS_MAX, additionalProperties: false },
          ),
          Type.Null(),
        ],
        {
          description:
            'A group of weight w takes w tasks per round of the round robin; groups not named weigh 1.',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Retry defaults for tasks of this queue that set none, limits and group weights. null clears a setting.',
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
  queue: QueueName(),
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
    Type.Array(
      Type.Object({
        tick: Type.String({
          format: 'date-time',
          description: 'The cron tick, or when it was triggered.',
        }),
        task_id: Type.String(),
        trigger: Type.Union([Type.Literal('cron'), Type.Literal('manual')]),
      }),
    ),
  ),
});

export const ScheduleRefParams = Type.Object({
  ref: Type.String({ minLength: 1, maxLength: 128, description: 'Schedule id or name.' }),
});
