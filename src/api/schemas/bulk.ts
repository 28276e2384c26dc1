import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { CANCELLABLE_STATUSES, RETRYABLE_STATUSES } from '../../store/actions.js';
import type { TaskStatus } from '../../store/types.js';
import { LIMITS, QueueName, RetryBody, TaskStatusSchema } from './tasks.js';

/** Schemas of the bulk actions: POST /v1/tasks/bulk/retry and /v1/tasks/bulk/cancel. */

/** The statuses a bulk action takes by filter: the ones its one-task action applies to. */
const bulkStatus = (statuses: readonly TaskStatus[]) =>
  Type.Unsafe<TaskStatus>({
    type: 'string',
    enum: [...statuses],
    description: `Filter, with queue: ${statuses.join(' or ')}.`,
  });

/** POST /v1/tasks/bulk/{retry,cancel}: ids, or a filter (queue and status). */
function bulkBody<E extends Record<string, TSchema>>(statuses: readonly TaskStatus[], extra: E) {
  return Type.Object(
    {
      ids: Type.Optional(
        Type.Array(Type.String({ maxLength: 64, description: 'Task id (UUID).' }), {
          minItems: 1,
          maxItems: LIMITS.bulkSize,
          description: `1 to ${LIMITS.bulkSize} task ids. Give either ids or a filter (queue and status).`,
        }),
      ),
      queue: Type.Optional(QueueName({ description: 'Filter: the queue whose tasks to act on.' })),
      status: Type.Optional(bulkStatus(statuses)),
      limit: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: LIMITS.bulkSize,
          default: LIMITS.bulkSize,
          description:
            'Filter only: most tasks to change in this call, oldest first; `remaining` says how many are left.',
        }),
      ),
      ...extra,
    },
    { additionalProperties: false },
  );
}

export const BulkRetryBody = bulkBody(RETRYABLE_STATUSES, {
  max_attempts: RetryBody.properties.max_attempts,
});
export type BulkRetryInput = Static<typeof BulkRetryBody>;

export const BulkCancelBody = bulkBody(CANCELLABLE_STATUSES, {});
export type BulkCancelInput = Static<typeof BulkCancelBody>;

export const BulkResultJson = Type.Object({
  changed: Type.Integer({ description: 'How many tasks were changed.' }),
  changed_ids: Type.Array(Type.String({ format: 'uuid' })),
  skipped: Type.Array(
    Type.Object({
      id: Type.String(),
      status: Type.Union([TaskStatusSchema, Type.Null()], {
        description: 'The status that kept it as it was; null when there is no such task.',
      }),
      reason: Type.String({ description: 'Why it was left as it was, in words.' }),
    }),
    { description: 'Ids given that were left as they were (ids only).' },
  ),
  remaining: Type.Union([Type.Integer(), Type.Null()], {
    description: `Filter only: tasks that still match it (exact up to ${LIMITS.totalCap}); call again while above 0. Null for ids.`,
  }),
  remaining_capped: Type.Boolean({
    description: `True when more than ${LIMITS.totalCap} tasks still match.`,
  }),
});
export type BulkResultJsonType = Static<typeof BulkResultJson>;
