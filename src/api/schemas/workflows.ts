import { Type, type Static } from '@sinclair/typebox';
import { LIMITS, SubmitTaskBody, TaskStatusSchema } from './tasks.js';

/** Most tasks one workflow submit may hold. */
export const MAX_WORKFLOW_TASKS = 10_000;
/** A node's key: letters, digits and _ . : - (a leading $ is reserved). */
export const WORKFLOW_KEY_PATTERN = '^[A-Za-z0-9_.:-]{1,64}$';

const { idempotency_key: _ignored, ...taskFields } = SubmitTaskBody.properties;

/** One task of a workflow: a task's fields, a key, and the keys it waits for. */
export const WorkflowTaskBody = Type.Object(
  {
    key: Type.String({
      pattern: WORKFLOW_KEY_PATTERN,
      description: 'Unique in the workflow; children name their parents by it (depends_on).',
    }),
    ...taskFields,
    depends_on: Type.Optional(
      Type.Array(Type.String({ pattern: WORKFLOW_KEY_PATTERN }), {
        maxItems: 1000,
        uniqueItems: true,
        description:
          'Keys of the tasks that must succeed first. The task sees their results as ctx.parents.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type WorkflowTaskInput = Static<typeof WorkflowTaskBody>;

/** The task that runs when one of the workflow's tasks ends dead or cancelled. */
export const OnFailureBody = Type.Object(taskFields, { additionalProperties: false });

export const SubmitWorkflowBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    tasks: Type.Array(WorkflowTaskBody, { minItems: 1, maxItems: MAX_WORKFLOW_TASKS }),
    on_failure: Type.Optional(OnFailureBody),
    idempotency_key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: LIMITS.idempotencyKeyLength,
        description: 'A workflow submitted again with the same key is not stored twice.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type SubmitWorkflowInput = Static<typeof SubmitWorkflowBody>;

const NodeJson = Type.Object({
  key: Type.Union([Type.String(), Type.Null()]),
  task_id: Type.String(),
  status: TaskStatusSchema,
  attempt: Type.Integer(),
  command: Type.String(),
  queue: Type.String(),
  error: Type.Union([Type.String(), Type.Null()]),
  depends_on: Type.Array(Type.String()),
  parent_task_id: Type.Union([Type.String(), Type.Null()], {
    description: 'For a task spawned by a handler (ctx.waitFor): the task that waits for it.',
  }),
  on_failure: Type.Boolean(),
  updated_at: Type.String({ format: 'date-time' }),
});

/** Derived from its tasks: running while any has not ended. */
export const WorkflowStatusSchema = Type.Union([
  Type.Literal('running'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
]);

export const WorkflowJson = Type.Object({
  id: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  status: WorkflowStatusSchema,
  idempotency_key: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  cancelled_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  counts: Type.Record(Type.String(), Type.Integer(), {
    description: 'How many of its tasks are in each status.',
  }),
  tasks: Type.Optional(Type.Array(NodeJson)),
});

export const WorkflowIdParams = Type.Object({
  id: Type.String({ description: 'Workflow id (UUID).', maxLength: 64 }),
});

export const WorkflowListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
