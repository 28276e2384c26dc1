import { create, fromJson, type JsonValue } from '@bufbuild/protobuf';
import { ValueSchema, timestampFromDate, type Timestamp, type Value } from '@bufbuild/protobuf/wkt';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import {
  TaskSchema,
  TaskService,
  type Task as TaskMessage,
} from '../../gen/taskqueue/v1/task_pb.js';
import type { TaskEvent } from '../../store/events.js';
import { Channel } from '../../lib/channel.js';
import { TERMINAL_STATUSES, type Task } from '../../store/types.js';
import type { Attempt } from '../../store/attempts.js';
import type { EventHub } from '../services/event-hub.js';
import type { TasksApi } from '../services/tasks.js';
import type { WorkflowsApi } from '../services/workflows.js';
import { STATUS, guard, submitInputOf } from './convert.js';
import { workflowMethods } from './workflows.js';

const ts = (d: Date | null): Timestamp | undefined => (d ? timestampFromDate(d) : undefined);
const value = (v: unknown): Value | undefined =>
  v === undefined || v === null ? undefined : fromJson(ValueSchema, v as JsonValue);

/** A task as a protobuf message. */
export function taskToMessage(
  t: Task,
  attempts: Attempt[] = [],
  waitingFor: string | null = null,
): TaskMessage {
  return create(TaskSchema, {
    id: t.id,
    queue: t.queue,
    command: t.command,
    payload: value(t.payload),
    priority: t.priority,
    status: STATUS[t.status],
    attempt: t.attempt,
    maxAttempts: t.maxAttempts,
    timeoutMs: t.timeoutMs ?? 0,
    workerId: t.workerId ?? '',
    result: value(t.result),
    error: t.error ?? '',
    idempotencyKey: t.idempotencyKey ?? '',
    scheduledAt: ts(t.scheduledAt),
    createdAt: ts(t.createdAt),
    pickedAt: ts(t.pickedAt),
    startedAt: ts(t.startedAt),
    completedAt: ts(t.completedAt),
    failedAt: ts(t.failedAt),
    cancelledAt: ts(t.cancelledAt),
    updatedAt: ts(t.updatedAt),
    waitingFor: waitingFor ?? '',
    executor: t.executor ?? '',
    requires: t.requires ?? {},
    rateKey: t.rateKey ?? '',
    group: t.group ?? '',
    stickyKey: t.stickyKey ?? '',
    ...(t.progressPercent === null
      ? {}
      : {
          progress: {
            attempt: t.attempt,
            percent: t.progressPercent,
            message: t.progressMessage ?? '',
          },
        }),
    attempts: attempts.map((a) => ({
      attempt: a.attempt,
      workerId: a.workerId ?? '',
      startedAt: ts(a.startedAt),
      finishedAt: ts(a.finishedAt),
      outcome: a.outcome,
      error: a.error ?? '',
    })),
  });
}

/** Registers TaskService on a Connect router, backed by the same TasksApi as REST. */
export function registerTaskService(
  router: ConnectRouter,
  api: TasksApi,
  workflows: WorkflowsApi,
  hub: EventHub,
): void {
  router.service(TaskService, {
    ...workflowMethods(workflows, hub),
    submitTask: (req, ctx) =>
      guard(async () => {
        const { task, created, mismatch } = await api.submit(
          submitInputOf(req),
          ctx.requestHeader.get('traceparent'),
        );
        return { task: taskToMessage(task), created, mismatchedFields: mismatch };
      }),
    getTask: (req) =>
      guard(async () => {
        const d = await api.get(req.id);
        return { task: taskToMessage(d.task, d.attempts, d.waitingFor) };
      }),
    cancelTask: (req) =>
      guard(async () => {
        const d = await api.cancel(req.id);
        return { task: taskToMessage(d.task, d.attempts, d.waitingFor) };
      }),
    watchTask: (req, ctx) => watch(api, hub, req.id, ctx),
  });
}

/** Progress reports a WatchTask call holds for a reader that is behind. */
const MAX_QUEUED_PROGRESS = 100;

/**
 * Streams the task on every change, woken by the event hub (re-reading the row, so the
 * message is always the whole current task), and the handler's progress reports as they
 * come; ends at a terminal status.
 */
async function* watch(api: TasksApi, hub: EventHub, id: string, ctx: HandlerContext) {
  // true: re-read the task; an event: pass the progress on.
  const wake = new Channel<true | TaskEvent>();
  let rereads = 0; // re-reads queued: a burst of changes makes one read
  const reread = (): void => {
    if (wake.push(true)) rereads++;
  };
  const unsubscribe = hub.subscribe(
    { taskId: id },
    // A reader that falls behind skips progress reports (the task it reads next carries
    // the latest), so the queue stays bounded.
    (e) => (e.kind === 'progress' ? wake.size < MAX_QUEUED_PROGRESS && wake.push(e) : reread()),
    reread,
  );
  const onAbort = (): void => wake.close();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) wake.close();
  try {
    await hub.ready();
    let last = '';
    reread();
    for await (const item of wake) {
      if (item !== true) {
        // The first message is the task itself, which carries its latest progress.
        if (!last) continue;
        yield {
          progress: {
            attempt: item.attempt,
            percent: item.percent ?? 0,
            message: item.message ?? '',
            at: timestampFromDate(new Date(item.at)),
          },
        };
        continue;
      }
      if (--rereads > 0) continue;
      const d = await guard(() => api.get(id));
      const stamp = `${d.task.status}|${d.task.attempt}|${d.task.updatedAt.getTime()}|${d.waitingFor ?? ''}`;
      if (stamp !== last) {
        last = stamp;
        yield { task: taskToMessage(d.task, d.attempts, d.waitingFor) };
      }
      if (TERMINAL_STATUSES.has(d.task.status)) return;
    }
  } finally {
    unsubscribe();
    ctx.signal.removeEventListener('abort', onAbort);
    wake.close();
  }
}
