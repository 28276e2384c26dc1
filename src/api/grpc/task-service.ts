import { create, fromJson, type JsonValue } from '@bufbuild/protobuf';
import {
  ValueSchema,
  timestampDate,
  timestampFromDate,
  type Timestamp,
  type Value,
} from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import {
  TaskSchema,
  TaskService,
  TaskStatus,
  type SubmitTaskRequest,
  type Task as TaskMessage,
} from '../../gen/taskqueue/v1/task_pb.js';
import { RateLimitedError, TaskQueueError, ValidationError } from '../../lib/errors.js';
import type { TaskEvent } from '../../store/events.js';
import { Channel } from '../../lib/channel.js';
import { TERMINAL_STATUSES, type Task } from '../../store/types.js';
import type { Attempt } from '../../store/attempts.js';
import type { EventHub } from '../services/event-hub.js';
import { PROTOTYPE_POLLUTION } from '../schemas/storable.js';
import type { SubmitTaskInput } from '../schemas/tasks.js';
import { MAX_PAYLOAD_DEPTH } from '../services/submit.js';
import type { TasksApi } from '../services/tasks.js';

const STATUS: Record<Task['status'], TaskStatus> = {
  blocked: TaskStatus.BLOCKED,
  waiting: TaskStatus.WAITING,
  pending: TaskStatus.PENDING,
  running: TaskStatus.RUNNING,
  succeeded: TaskStatus.SUCCEEDED,
  dead: TaskStatus.DEAD,
  cancelled: TaskStatus.CANCELLED,
};

const CODES: Record<string, Code> = {
  validation: Code.InvalidArgument,
  bad_request: Code.InvalidArgument,
  not_found: Code.NotFound,
  conflict: Code.FailedPrecondition,
  rate_limited: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
};

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

/**
 * Our errors as Connect errors; the message (which names the field) passes through. A
 * refusal by backpressure carries `retry-after` (seconds) in its metadata, as REST's
 * Retry-After header.
 */
function toConnectError(err: unknown): ConnectError {
  if (err instanceof RateLimitedError) {
    const e = new ConnectError(err.message, Code.ResourceExhausted);
    e.metadata.set('retry-after', String(err.retryAfterS));
    return e;
  }
  if (err instanceof TaskQueueError)
    return new ConnectError(err.message, CODES[err.code] ?? Code.Internal);
  return new ConnectError('internal error; see the server log', Code.Internal);
}

/**
 * A protobuf Value as JSON, built with own properties: the library's own conversion assigns
 * keys, so a key named `__proto__` (which other languages' clients can send) would vanish
 * into a prototype, and NaN would fail as an internal error. Here both reach the submit
 * checks, which refuse them naming the field, as REST does.
 * @throws ValidationError when the value nests deeper than a payload may.
 */
function valueToJson(value: Value, path: string, depth = 0): unknown {
  const k = value.kind;
  switch (k.case) {
    case 'structValue':
    case 'listValue': {
      if (depth >= MAX_PAYLOAD_DEPTH)
        throw new ValidationError(
          `payload must nest at most ${MAX_PAYLOAD_DEPTH} levels of arrays and objects`,
          'payload',
        );
      if (k.case === 'listValue')
        return k.value.values.map((v, i) => valueToJson(v, `${path}.${i}`, depth + 1));
      const fields = k.value.fields;
      // The decoder assigned a `__proto__` key, which replaced the prototype instead.
      if (Object.getPrototypeOf(fields) !== Object.prototype)
        throw new ValidationError(
          `${path}.__proto__ is refused: ${PROTOTYPE_POLLUTION}`,
          `${path}.__proto__`,
        );
      const out: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(fields))
        Object.defineProperty(out, key, {
          value: valueToJson(v, `${path}.${key}`, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      return out;
    }
    case 'numberValue':
    case 'stringValue':
    case 'boolValue':
      return k.value;
    default:
      return null;
  }
}

/** A SubmitTask request as the submit input every surface shares; proto3 zeros mean unset. */
function submitInputOf(req: SubmitTaskRequest): SubmitTaskInput {
  let runAt: string | undefined;
  if (req.runAt) {
    const at = timestampDate(req.runAt);
    if (Number.isNaN(at.getTime()))
      throw new ValidationError(
        'run_at is out of range: send a time between 1970 and 2200',
        'run_at',
      );
    runAt = at.toISOString();
  }
  return {
    command: req.command,
    ...(req.payload ? { payload: valueToJson(req.payload, 'payload') } : {}),
    ...(req.queue ? { queue: req.queue } : {}),
    ...(req.priority ? { priority: req.priority } : {}),
    ...(runAt ? { run_at: runAt } : {}),
    ...(req.maxAttempts ? { max_attempts: req.maxAttempts } : {}),
    ...(req.timeoutMs ? { timeout_ms: req.timeoutMs } : {}),
    ...(req.idempotencyKey ? { idempotency_key: req.idempotencyKey } : {}),
  };
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toConnectError(err);
  }
}

/** Registers TaskService on a Connect router, backed by the same TasksApi as REST. */
export function registerTaskService(router: ConnectRouter, api: TasksApi, hub: EventHub): void {
  router.service(TaskService, {
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
