import type { HandlerContext } from '@connectrpc/connect';
import { Channel } from '../../lib/channel.js';
import type {
  GetWorkflowRequest,
  SubmitWorkflowRequest,
  WorkflowResponse,
} from '../../gen/taskqueue/v1/task_pb.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { WorkflowResponseSchema } from '../../gen/taskqueue/v1/task_pb.js';
import type { SubmitWorkflowInput } from '../schemas/workflows.js';
import type { EventHub } from '../services/event-hub.js';
import type { WorkflowsApi, WorkflowView } from '../services/workflows.js';
import { STATUS, guard, submitInputOf } from './convert.js';

type WorkflowMessage = MessageInitShape<typeof WorkflowResponseSchema>;

/** A workflow as the proto message. */
function workflowToMessage(w: WorkflowView, created = false): WorkflowMessage {
  return {
    id: w.id,
    name: w.name ?? '',
    status: w.status,
    created,
    tasks: (w.nodes ?? []).map((n) => ({
      key: n.key ?? '',
      taskId: n.taskId,
      status: STATUS[n.status],
      attempt: n.attempt,
      error: n.error ?? '',
      dependsOn: n.dependsOn,
      parentTaskId: n.parentId ?? '',
      onFailure: n.onFailure,
    })),
  };
}

/** The request as the service's input, checked there by the same schema as REST. */
function workflowInputOf(req: SubmitWorkflowRequest): SubmitWorkflowInput {
  return {
    ...(req.name ? { name: req.name } : {}),
    ...(req.idempotencyKey ? { idempotency_key: req.idempotencyKey } : {}),
    ...(req.onFailure ? { on_failure: strip(submitInputOf(req.onFailure)) } : {}),
    tasks: req.tasks.map((t) => ({
      key: t.key,
      ...(t.task ? strip(submitInputOf(t.task)) : { command: '' }),
      ...(t.dependsOn.length > 0 ? { depends_on: t.dependsOn } : {}),
    })),
  };
}

/** A workflow's tasks have no idempotency key of their own. */
function strip<T extends { idempotency_key?: string }>(t: T): Omit<T, 'idempotency_key'> {
  const { idempotency_key: _key, ...rest } = t;
  return rest;
}

/** TaskService's workflow methods: SubmitWorkflow, GetWorkflow, WatchWorkflow. */
export function workflowMethods(workflows: WorkflowsApi, hub: EventHub) {
  return {
    submitWorkflow: (req: SubmitWorkflowRequest) =>
      guard(async () => {
        const { workflow, created } = await workflows.submit(workflowInputOf(req));
        return workflowToMessage(workflow, created);
      }),
    getWorkflow: (req: GetWorkflowRequest) =>
      guard(async () => workflowToMessage(await workflows.get(req.id))),
    watchWorkflow: (req: GetWorkflowRequest, ctx: HandlerContext) =>
      watchWorkflow(workflows, hub, req.id, ctx),
  };
}

/** Streams the graph on every change of one of its tasks; ends with the workflow. */
async function* watchWorkflow(
  workflows: WorkflowsApi,
  hub: EventHub,
  id: string,
  ctx: HandlerContext,
): AsyncGenerator<WorkflowMessage> {
  const first = await guard(() => workflows.get(id));
  const members = new Set((first.nodes ?? []).map((n) => n.taskId));
  const wake = new Channel<true>();
  const reread = (): void => {
    if (wake.size === 0) wake.push(true);
  };
  const unsubscribe = hub.subscribe(
    { taskIds: members },
    (e) => {
      if (e.kind !== 'progress') reread();
    },
    reread,
  );
  const onAbort = (): void => wake.close();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await hub.ready();
    reread();
    for await (const _ of wake) {
      const w = await guard(() => workflows.get(id));
      for (const n of w.nodes ?? []) members.add(n.taskId);
      yield workflowToMessage(w);
      if (w.status !== 'running') return;
    }
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    unsubscribe();
    wake.close();
  }
}

export type { WorkflowResponse };
