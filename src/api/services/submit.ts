import { v7 as uuidv7 } from 'uuid';
import { handlerName } from '../../lib/command.js';
import { TASK_LIMITS } from '../../lib/limits.js';
import { ValidationError } from '../../lib/errors.js';
import { parseTimestamp } from '../../lib/time.js';
import type { NewTask, Task } from '../../store/types.js';
import type { SubmitTaskInput } from '../schemas/tasks.js';

/** Payloads above this many bytes of JSON are refused (REST also caps the whole body). */
export const MAX_PAYLOAD_BYTES = TASK_LIMITS.payloadBytes;
/** Deepest nesting of arrays and objects a payload may have. */
export const MAX_PAYLOAD_DEPTH = 100;

/**
 * How deeply `value` nests, counted without recursion, stopping past `max`: a body of a few
 * kilobytes can nest thousands deep, and serialising that would overflow the stack.
 */
function depthOver(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > max) return true;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return false;
}

/**
 * Checks a payload and returns it as JSON text (null for none).
 * @throws ValidationError naming `field` when it nests too deeply, is too large, or holds
 * NUL characters (PostgreSQL jsonb cannot store them).
 */
export function payloadJsonOf(payload: unknown, field = 'payload'): string | null {
  if (payload === undefined || payload === null) return null;
  if (depthOver(payload, MAX_PAYLOAD_DEPTH)) {
    throw new ValidationError(
      `${field} must nest at most ${MAX_PAYLOAD_DEPTH} levels of arrays and objects`,
      field,
    );
  }
  const json = JSON.stringify(payload);
  if (json === undefined) return null;
  if (Buffer.byteLength(json) > MAX_PAYLOAD_BYTES) {
    throw new ValidationError(`${field} must be at most ${MAX_PAYLOAD_BYTES} bytes of JSON`, field);
  }
  if (json.includes('\\u0000')) {
    throw new ValidationError(
      `${field} must not contain NUL characters (PostgreSQL jsonb cannot store them)`,
      field,
    );
  }
  return json;
}

/**
 * The retry delay's cap may not be below its first value, for a task as for a queue's
 * defaults (null: not set). `field` is the one the caller changed.
 * @throws ValidationError naming `field`.
 */
export function checkBackoffRange(
  baseMs: number | null,
  maxMs: number | null,
  field: 'backoff_ms' | 'backoff_max_ms' = 'backoff_max_ms',
): void {
  if (baseMs === null || maxMs === null || maxMs >= baseMs) return;
  throw new ValidationError(
    field === 'backoff_max_ms'
      ? `backoff_max_ms must be at least backoff_ms (${maxMs} < ${baseMs})`
      : `backoff_ms must be at most backoff_max_ms (${baseMs} > ${maxMs})`,
    field,
  );
}

/**
 * The fields of a submit that differ from the task already holding its idempotency key: that
 * task is returned as it is, and the caller should know its request was not applied.
 */
export function idempotencyMismatch(
  request: NewTask,
  existing: Task,
): Array<'command' | 'queue' | 'payload' | 'priority'> {
  const out: Array<'command' | 'queue' | 'payload' | 'priority'> = [];
  if (request.command !== existing.command) out.push('command');
  if (request.queue !== existing.queue) out.push('queue');
  const payload =
    request.payloadJson !== undefined && request.payloadJson !== null
      ? (JSON.parse(request.payloadJson) as unknown)
      : (request.payload ?? null);
  if (canonical(payload) !== canonical(existing.payload ?? null)) out.push('payload');
  if (request.priority !== existing.priority) out.push('priority');
  return out;
}

/** JSON with object keys sorted, as jsonb stores them. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}

/**
 * Turns checked submit input (REST body or gRPC request) into a row to insert: parses the
 * time, derives the handler name, fills defaults. Shape checks are the schema's job; this
 * adds the rules a schema cannot express.
 * @throws ValidationError naming the field.
 */
export function prepareTask(input: SubmitTaskInput): NewTask {
  const command = input.command;
  if (command.trim() === '') throw new ValidationError('command must not be blank', 'command');
  if (command.includes('\0'))
    throw new ValidationError('command must not contain NUL characters', 'command');
  const handler = handlerName(command);
  if (handler === '')
    throw new ValidationError('command must start with a handler name', 'command');
  const payloadJson = payloadJsonOf(input.payload);
  const payload = payloadJson === null ? null : input.payload;
  const backoffBaseMs = input.backoff_ms ?? null;
  const backoffMaxMs = input.backoff_max_ms ?? null;
  checkBackoffRange(backoffBaseMs, backoffMaxMs);
  return {
    id: uuidv7(),
    queue: input.queue ?? 'default',
    command,
    handler,
    payload,
    payloadJson,
    priority: input.priority ?? 0,
    runAt: input.run_at === undefined ? null : parseTimestamp(input.run_at, 'run_at'),
    maxAttempts: input.max_attempts ?? null,
    timeoutMs: input.timeout_ms ?? null,
    backoffBaseMs,
    backoffMaxMs,
    idempotencyKey: input.idempotency_key ?? null,
    concurrencyKey: input.concurrency_key ?? null,
    rateKey: input.rate_key ?? null,
    group: input.group ?? null,
    stickyKey: input.sticky_key ?? null,
    requires: input.requires && Object.keys(input.requires).length > 0 ? input.requires : null,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `text` has the shape of an id (a UUID, any case). */
export function isUuid(text: string): boolean {
  return UUID.test(text);
}

/**
 * Checks a task id.
 * @throws ValidationError naming `field` when it is not a UUID.
 */
export function checkTaskId(id: string, field = 'id'): string {
  if (!isUuid(id))
    throw new ValidationError(
      `${field} must be a task id (a UUID), got "${id.slice(0, 64)}"`,
      field,
    );
  return id.toLowerCase();
}
