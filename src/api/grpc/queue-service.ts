import { create } from '@bufbuild/protobuf';
import type { ConnectRouter } from '@connectrpc/connect';
import {
  QueueSchema,
  QueueService,
  type Queue as QueueMessage,
  type RateLimit as RateLimitMessage,
  type UpdateQueueRequest,
} from '../../gen/taskqueue/v1/queue_pb.js';
import { ValidationError } from '../../lib/errors.js';
import type { RateLimit } from '../../store/queues.js';
import type { QueueSettingsInput } from '../schemas/admin.js';
import { PROTOTYPE_POLLUTION } from '../schemas/storable.js';
import { checkQueueName, type QueuesApi, type QueueView } from '../services/queues.js';
import { guard } from './convert.js';

/** The settings UpdateQueue's `clear` may name: the nullable fields of PUT /v1/queues/:name. */
const CLEARABLE: ReadonlySet<string> = new Set<keyof QueueSettingsInput>([
  'max_attempts',
  'backoff_ms',
  'backoff_max_ms',
  'concurrency_limit',
  'key_concurrency_limit',
  'rate_limit',
  'key_rate_limit',
  'group_weights',
]);

const rateLimitToMessage = (r: RateLimit | null) =>
  r ? { count: r.count, periodMs: r.periodMs } : undefined;

/** A queue as a protobuf message: a setting at its default is unset. */
export function queueToMessage(q: QueueView): QueueMessage {
  return create(QueueSchema, {
    name: q.name,
    paused: q.paused,
    due: q.due,
    scheduled: q.scheduled,
    running: q.running,
    dead: q.dead,
    ...(q.oldestDueAgeMs === null ? {} : { oldestDueAgeMs: BigInt(q.oldestDueAgeMs) }),
    succeededLastMinute: q.throughput.succeeded,
    failedLastMinute: q.throughput.failed,
    ...(q.maxAttempts === null ? {} : { maxAttempts: q.maxAttempts }),
    ...(q.backoffBaseMs === null ? {} : { backoffMs: q.backoffBaseMs }),
    ...(q.backoffMaxMs === null ? {} : { backoffMaxMs: q.backoffMaxMs }),
    ...(q.concurrencyLimit === null ? {} : { concurrencyLimit: q.concurrencyLimit }),
    ...(q.keyConcurrencyLimit === null ? {} : { keyConcurrencyLimit: q.keyConcurrencyLimit }),
    rateLimit: rateLimitToMessage(q.rateLimit),
    keyRateLimit: rateLimitToMessage(q.keyRateLimit),
    groupWeights: q.groupWeights ?? {},
  });
}

const rateLimitInput = (r: RateLimitMessage | undefined) =>
  r && { count: r.count, period_ms: r.periodMs };

/**
 * An UpdateQueue request as the settings input PUT /v1/queues/:name takes, which the queues
 * service checks with the same schema: set fields change, `clear` nulls, the rest keep.
 * @throws ValidationError naming the field: an unknown name in `clear`, a field both set and
 * cleared, or a group named `__proto__`.
 */
export function settingsInputOf(req: UpdateQueueRequest): QueueSettingsInput {
  const input: Record<string, unknown> = {};
  for (const field of req.clear) {
    if (!CLEARABLE.has(field))
      throw new ValidationError(
        `clear names '${field}', which is not a setting; it takes ${[...CLEARABLE].join(', ')}`,
        'clear',
      );
    input[field] = null;
  }
  // The decoder assigned a `__proto__` key, which replaced the prototype instead.
  if (Object.getPrototypeOf(req.groupWeights) !== Object.prototype)
    throw new ValidationError(
      `group_weights.__proto__ is refused: ${PROTOTYPE_POLLUTION}`,
      'group_weights.__proto__',
    );
  const set: Record<keyof QueueSettingsInput, unknown> = {
    max_attempts: req.maxAttempts,
    backoff_ms: req.backoffMs,
    backoff_max_ms: req.backoffMaxMs,
    concurrency_limit: req.concurrencyLimit,
    key_concurrency_limit: req.keyConcurrencyLimit,
    rate_limit: rateLimitInput(req.rateLimit),
    key_rate_limit: rateLimitInput(req.keyRateLimit),
    group_weights: Object.keys(req.groupWeights).length > 0 ? { ...req.groupWeights } : undefined,
  };
  for (const [field, value] of Object.entries(set)) {
    if (value === undefined) continue;
    if (field in input)
      throw new ValidationError(`${field} is both set and named in clear; do one`, field);
    input[field] = value;
  }
  return input;
}

/** Registers QueueService on a Connect router, backed by the same QueuesApi as REST. */
export function registerQueueService(router: ConnectRouter, api: QueuesApi): void {
  router.service(QueueService, {
    listQueues: () => guard(async () => ({ queues: (await api.list()).map(queueToMessage) })),
    getQueue: (req) =>
      guard(async () => ({ queue: queueToMessage(await api.get(checkQueueName(req.name))) })),
    updateQueue: (req) =>
      guard(async () => {
        const name = checkQueueName(req.name);
        return { queue: queueToMessage(await api.update(name, settingsInputOf(req))) };
      }),
    pauseQueue: (req) =>
      guard(async () => ({
        queue: queueToMessage(await api.setPaused(checkQueueName(req.name), true)),
      })),
    resumeQueue: (req) =>
      guard(async () => ({
        queue: queueToMessage(await api.setPaused(checkQueueName(req.name), false)),
      })),
  });
}
