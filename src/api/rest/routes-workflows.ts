import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EventHub } from '../services/event-hub.js';
import type { SseStream } from './sse.js';
import { ErrorJson } from '../schemas/tasks.js';
import {
  SubmitWorkflowBody,
  WorkflowIdParams,
  WorkflowJson,
  WorkflowListQuery,
  type SubmitWorkflowInput,
} from '../schemas/workflows.js';
import type { WorkflowsApi, WorkflowView } from '../services/workflows.js';

const errors = { 400: ErrorJson, 404: ErrorJson, 409: ErrorJson, 413: ErrorJson, 503: ErrorJson };

/** A workflow as the /v1 API shows it. */
export function workflowToJson(w: WorkflowView) {
  return {
    id: w.id,
    name: w.name,
    status: w.status,
    idempotency_key: w.idempotencyKey,
    created_at: w.createdAt.toISOString(),
    cancelled_at: w.cancelledAt?.toISOString() ?? null,
    counts: w.counts as Record<string, number>,
    ...(w.nodes
      ? {
          tasks: w.nodes.map((n) => ({
            key: n.key,
            task_id: n.taskId,
            status: n.status,
            attempt: n.attempt,
            command: n.command,
            queue: n.queue,
            error: n.error,
            depends_on: n.dependsOn,
            parent_task_id: n.parentId,
            on_failure: n.onFailure,
            updated_at: n.updatedAt.toISOString(),
          })),
        }
      : {}),
  };
}

/** /v1/workflows: submit a graph of tasks, read it with every task's state, cancel it. */
export function registerWorkflowRoutes(
  app: FastifyInstance,
  workflows: WorkflowsApi,
  bodyLimit: number,
): void {
  app.post<{ Body: SubmitWorkflowInput }>(
    '/v1/workflows',
    {
      bodyLimit,
      schema: {
        tags: ['workflows'],
        summary: 'Submit a workflow: tasks that depend on tasks',
        description:
          'Checks the graph (unknown keys, cycles, at most 10000 tasks) and stores it in one transaction. A task with depends_on starts blocked and becomes pending when its last parent succeeds; it sees their results as ctx.parents. When a task ends dead or cancelled, the tasks below it are cancelled and on_failure, if given, runs. 201 with the workflow; 200 with the existing one for a known idempotency_key.',
        body: SubmitWorkflowBody,
        response: { 200: WorkflowJson, 201: WorkflowJson, ...errors },
      },
    },
    async (req, reply) => {
      const { workflow, created } = await workflows.submit(req.body, 'validated');
      return reply.code(created ? 201 : 200).send(workflowToJson(workflow));
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/v1/workflows',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Workflows, newest first, with how many of their tasks are in each status',
        querystring: WorkflowListQuery,
        response: {
          200: Type.Object({
            items: Type.Array(WorkflowJson),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errors,
        },
      },
    },
    async (req) => {
      const page = await workflows.list(req.query);
      return { items: page.items.map(workflowToJson), next_cursor: page.nextCursor };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/workflows/:id',
    {
      schema: {
        tags: ['workflows'],
        summary: 'A workflow: its graph, with every task and its state',
        params: WorkflowIdParams,
        response: { 200: WorkflowJson, ...errors },
      },
    },
    async (req) => workflowToJson(await workflows.get(req.params.id)),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/workflows/:id/cancel',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Cancel a workflow: every task of it that has not ended',
        description:
          'Running handlers get their AbortSignal, as for a single cancel. The on_failure task does not run.',
        params: WorkflowIdParams,
        response: { 200: WorkflowJson, ...errors },
      },
    },
    async (req) => workflowToJson(await workflows.cancel(req.params.id)),
  );
}

/**
 * `GET /v1/workflows/:id/events`: the workflow's graph live (SSE). The first `workflow` event
 * carries the whole workflow; then a `workflow` event follows every change of one of its tasks
 * (coalesced while the graph is re-read), so a client always holds the graph whole. The stream
 * ends once the workflow has ended.
 */
export function registerWorkflowEvents(
  app: FastifyInstance,
  workflows: WorkflowsApi,
  hub: EventHub,
  open: (req: FastifyRequest, reply: FastifyReply) => SseStream,
): void {
  app.get<{ Params: { id: string } }>(
    '/v1/workflows/:id/events',
    {
      schema: {
        tags: ['workflows', 'events'],
        summary: "A workflow's live graph (SSE)",
        description:
          'text/event-stream of `workflow` events, each the whole workflow as GET /v1/workflows/:id gives it: first on open, then after every change of one of its tasks. Ends once the workflow has ended.',
        params: WorkflowIdParams,
        querystring: Type.Object(
          { access_token: Type.Optional(Type.String({ maxLength: 200 })) },
          { additionalProperties: false },
        ),
        response: { 400: ErrorJson, 404: ErrorJson, 503: ErrorJson },
      },
    },
    async (req, reply) => {
      const first = await workflows.get(req.params.id); // 404 before the stream opens
      const members = new Set((first.nodes ?? []).map((n) => n.taskId));
      let stream: SseStream | null = null;
      let dirty = true;
      let running: Promise<void> | null = null;
      const refresh = (): void => {
        const s = stream;
        if (!s) return;
        dirty = true;
        running ??= (async () => {
          while (dirty && !s.isClosed) {
            dirty = false;
            try {
              const w = await workflows.get(first.id);
              // Children spawned by a handler join the graph as they appear.
              for (const n of w.nodes ?? []) members.add(n.taskId);
              s.send('workflow', workflowToJson(w));
              if (w.status !== 'running') s.close();
            } catch {
              // The database is away: the next event re-reads.
            }
          }
        })().finally(() => (running = null));
      };
      const unsubscribe = hub.subscribe(
        { taskIds: members },
        (e) => {
          if (e.kind !== 'progress') refresh();
        },
        refresh,
      );
      try {
        await hub.ready();
        stream = open(req, reply);
        refresh();
        await stream.closed;
      } finally {
        unsubscribe();
      }
    },
  );
}
