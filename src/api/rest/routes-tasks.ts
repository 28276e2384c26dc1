import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ErrorJson,
  ListTasksQuery,
  RetryBody,
  SubmitBatchBody,
  SubmitBatchResponse,
  SubmitTaskBody,
  TaskIdParams,
  TaskJson,
  TaskPage,
  type ListTasksQueryType,
  type SubmitBatchInput,
  type SubmitTaskInput,
} from '../schemas/tasks.js';
import {
  BulkCancelBody,
  BulkResultJson,
  BulkRetryBody,
  type BulkCancelInput,
  type BulkRetryInput,
} from '../schemas/bulk.js';
import { bulkToJson, taskToJson } from './serialize.js';
import type { TasksApi } from '../services/tasks.js';
import type { BulkActionsApi } from '../services/bulk.js';

/** The W3C traceparent a caller sent, if any. */
function traceparent(req: FastifyRequest): string | null {
  const h = req.headers.traceparent;
  return typeof h === 'string' ? h : null;
}

/** Lets a route with a body schema also take no body at all (as `{}`). */
function emptyBodyAsObject(req: FastifyRequest, _reply: FastifyReply, done: () => void): void {
  req.body ??= {};
  done();
}

const errors = { 400: ErrorJson, 404: ErrorJson, 409: ErrorJson, 413: ErrorJson, 503: ErrorJson };

/** The /v1/tasks routes. `batchBodyLimit` caps POST /v1/tasks/batch, which carries many payloads. */
export function registerTaskRoutes(
  app: FastifyInstance,
  api: TasksApi,
  bulk: BulkActionsApi,
  batchBodyLimit: number,
): void {
  app.post<{ Body: SubmitTaskInput }>(
    '/v1/tasks',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Submit a task',
        description:
          'Stores a task to run now or at run_at. Answers 201 with the task, or 200 with the existing task, unchanged, when idempotency_key was seen before: then `Idempotent-Replayed: true`, and `Idempotency-Mismatch` lists the fields of this request that differ from that task (command, queue, payload, priority) and were not applied.',
        body: SubmitTaskBody,
        response: { 200: TaskJson, 201: TaskJson, ...errors },
      },
    },
    async (req, reply) => {
      const { task, created, mismatch } = await api.submit(req.body, traceparent(req), 'validated');
      if (!created) {
        void reply.header('idempotent-replayed', 'true');
        if (mismatch.length > 0) void reply.header('idempotency-mismatch', mismatch.join(', '));
      }
      return reply.code(created ? 201 : 200).send(taskToJson(task));
    },
  );

  app.post<{ Body: SubmitBatchInput }>(
    '/v1/tasks/batch',
    {
      bodyLimit: batchBodyLimit,
      schema: {
        tags: ['tasks'],
        summary: 'Submit many tasks at once',
        description:
          'Stores up to 5000 tasks in one statement and answers 201. All or none: one invalid task fails the batch with 400, naming its index.',
        body: SubmitBatchBody,
        response: { 201: SubmitBatchResponse, ...errors },
      },
    },
    async (req, reply) => {
      const items = await api.submitBatch(req.body.tasks, traceparent(req), 'validated');
      return reply.code(201).send({ items, created: items.filter((i) => i.created).length });
    },
  );

  app.get<{ Querystring: ListTasksQueryType }>(
    '/v1/tasks',
    {
      schema: {
        tags: ['tasks'],
        summary: 'List tasks',
        description:
          'Newest first, filtered on the server. Pass next_cursor back as cursor for the next page; total counts the tasks that match the filters (exact up to 10,000).',
        querystring: ListTasksQuery,
        response: { 200: TaskPage, ...errors },
      },
    },
    async (req) => {
      const q = req.query;
      const page = await api.list({
        status: q.status,
        queue: q.queue,
        command: q.command,
        idempotencyKey: q.idempotency_key,
        worker: q.worker,
        createdAfter: q.created_after,
        createdBefore: q.created_before,
        limit: q.limit,
        cursor: q.cursor,
        includeTotal: q.include_total,
      });
      return {
        items: page.items.map((t) => taskToJson(t)),
        next_cursor: page.nextCursor,
        total: page.total?.count ?? null,
        total_capped: page.total?.capped ?? false,
      };
    },
  );

  app.post<{ Body: BulkRetryInput }>(
    '/v1/tasks/bulk/retry',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Retry many dead or cancelled tasks',
        description:
          'By ids (up to 1000) or by a filter ({queue, status: dead|cancelled}, up to limit tasks a call, oldest first; remaining says how many are left). Each task as POST /v1/tasks/:id/retry does; tasks in another status are skipped and listed with the reason.',
        body: BulkRetryBody,
        response: { 200: BulkResultJson, ...errors },
      },
    },
    async (req) => bulkToJson(await bulk.bulkRetry(req.body)),
  );

  app.post<{ Body: BulkCancelInput }>(
    '/v1/tasks/bulk/cancel',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Cancel many tasks that have not ended',
        description:
          "By ids (up to 1000) or by a filter ({queue, status: blocked|waiting|pending|running}, up to limit tasks a call; remaining says how many are left). Each task as POST /v1/tasks/:id/cancel does: running handlers are aborted, a waiting task's children are cancelled. Finished tasks are skipped and listed with the reason.",
        body: BulkCancelBody,
        response: { 200: BulkResultJson, ...errors },
      },
    },
    async (req) => bulkToJson(await bulk.bulkCancel(req.body)),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/tasks/:id',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Get a task with its attempts',
        params: TaskIdParams,
        response: { 200: TaskJson, ...errors },
      },
    },
    async (req) => {
      const d = await api.get(req.params.id);
      return taskToJson(d.task, d);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/tasks/:id/cancel',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Cancel a task that has not ended (blocked, waiting, pending or running)',
        description:
          "A running handler gets its AbortSignal; its late result is discarded. A waiting task's children that have not ended are cancelled with it; a workflow task's blocked dependents are cancelled and the workflow's on_failure runs. 409 if the task already ended.",
        params: TaskIdParams,
        response: { 200: TaskJson, ...errors },
      },
    },
    async (req) => {
      const d = await api.cancel(req.params.id);
      return taskToJson(d.task, d);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/tasks/:id/run-now',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Run a pending task now',
        description:
          'A pending task waiting for its run_at or a retry backoff becomes due now (a task already due is returned unchanged). 409 for a task that is not pending: retry a dead or cancelled one instead.',
        params: TaskIdParams,
        response: { 200: TaskJson, ...errors },
      },
    },
    async (req) => {
      const d = await api.runNow(req.params.id);
      return taskToJson(d.task, d);
    },
  );

  app.post<{ Params: { id: string }; Body: { max_attempts?: number } | undefined }>(
    '/v1/tasks/:id/retry',
    {
      preValidation: emptyBodyAsObject,
      schema: {
        tags: ['tasks'],
        summary: 'Retry a dead or cancelled task (redrive)',
        description:
          "Back to pending, due now, with a fresh set of attempts: max_attempts if given, else the queue's setting, else 3. 409 for a task that is not dead or cancelled.",
        params: TaskIdParams,
        body: RetryBody,
        response: { 200: TaskJson, ...errors },
      },
    },
    async (req) => {
      const d = await api.retry(req.params.id, req.body?.max_attempts);
      return taskToJson(d.task, d);
    },
  );
}
