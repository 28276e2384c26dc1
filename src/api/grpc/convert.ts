import { timestampDate, type Value } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { TaskStatus, type SubmitTaskRequest } from '../../gen/taskqueue/v1/task_pb.js';
import { RateLimitedError, TaskQueueError, ValidationError } from '../../lib/errors.js';
import type { Task } from '../../store/types.js';
import { PROTOTYPE_POLLUTION } from '../schemas/storable.js';
import type { SubmitTaskInput } from '../schemas/tasks.js';
import { MAX_PAYLOAD_DEPTH } from '../services/submit.js';

/** What the gRPC edge shares between its services: status enums, errors, request input. */

/** A task status as the proto enum. */
export const STATUS: Record<Task['status'], TaskStatus> = {
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

/**
 * Our errors as Connect errors; the message (which names the field) passes through. A
 * refusal by backpressure carries `retry-after` (seconds) in its metadata, as REST's
 * Retry-After header.
 */
export function toConnectError(err: unknown): ConnectError {
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
export function submitInputOf(req: SubmitTaskRequest): SubmitTaskInput {
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
    ...(Object.keys(req.requires).length > 0 ? { requires: { ...req.requires } } : {}),
    ...(req.rateKey ? { rate_key: req.rateKey } : {}),
    ...(req.group ? { group: req.group } : {}),
    ...(req.stickyKey ? { sticky_key: req.stickyKey } : {}),
  };
}

/** Runs a call, turning our errors into gRPC status codes. */
export async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toConnectError(err);
  }
}
