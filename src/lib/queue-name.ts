import { ValidationError } from './errors.js';

/**
 * The queue-name rule, in one place for every surface that takes a queue name: the REST
 * schemas (bodies, query strings, paths), gRPC (through the same schemas) and the worker's
 * `queues` option. This module imports nothing but the error tree, so the worker SDK can
 * use it without pulling in the server.
 */

/** Longest queue name. */
export const QUEUE_NAME_MAX_LENGTH = 64;

/**
 * Letters, digits and `_ . : -`, but not only dots: `.` and `..` read as path segments
 * (`/v1/queues/..` is `/v1/` to every URL parser), so such a queue could not be addressed.
 */
export const QUEUE_NAME_PATTERN = '^(?!\\.+$)[A-Za-z0-9_.:-]+$';

/** The rule in words, for error messages. */
export const QUEUE_NAME_RULE = `1-${QUEUE_NAME_MAX_LENGTH} letters, digits and _ . : -, not only dots`;

const QUEUE_NAME = new RegExp(QUEUE_NAME_PATTERN);

/** Whether `name` is a valid queue name. */
export function isQueueName(name: string): boolean {
  return name.length <= QUEUE_NAME_MAX_LENGTH && QUEUE_NAME.test(name);
}

/**
 * Checks a queue name.
 * @throws ValidationError naming `field`.
 */
export function checkQueueName(name: string, field: string): string {
  if (!isQueueName(name))
    throw new ValidationError(`queue name "${name}" must be ${QUEUE_NAME_RULE}`, field);
  return name;
}
