import { ValidationError } from '../../lib/errors.js';
import type { NewTask } from '../../store/types.js';
import { checkSchema } from '../schemas/check.js';
import { checkStorable } from '../schemas/storable.js';
import { SubmitTaskBody, type SubmitTaskInput } from '../schemas/tasks.js';
import { MAX_WORKFLOW_TASKS, WORKFLOW_KEY_PATTERN } from '../schemas/workflows.js';
import { prepareTask } from './submit.js';

const KEY = new RegExp(WORKFLOW_KEY_PATTERN);

/**
 * The children a handler spawned (Result.children_json), checked by the same rules as any
 * submit and prepared for insertion: at most 10,000, each a submit's fields plus an optional
 * `key`, no idempotency key (a child is unique by its parent's attempt).
 * @throws ValidationError naming the child and field, e.g. `children.3.queue`.
 */
export function prepareChildTasks(json: string): NewTask[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new ValidationError('children are not valid JSON', 'children');
  }
  if (!Array.isArray(parsed))
    throw new ValidationError('children must be an array of tasks', 'children');
  if (parsed.length > MAX_WORKFLOW_TASKS)
    throw new ValidationError(
      `a handler may spawn at most ${MAX_WORKFLOW_TASKS} children`,
      'children',
    );
  return parsed.map((child: unknown, i) => {
    const at = `children.${i}`;
    if (typeof child !== 'object' || child === null || Array.isArray(child))
      throw new ValidationError(`${at} must be a task`, at);
    const { key, ...fields } = child as { key?: unknown } & Record<string, unknown>;
    if (key !== undefined && (typeof key !== 'string' || !KEY.test(key)))
      throw new ValidationError(`${at}.key must match ${WORKFLOW_KEY_PATTERN}`, `${at}.key`);
    if ('idempotency_key' in fields)
      throw new ValidationError(
        `${at}.idempotency_key is not allowed for a child`,
        `${at}.idempotency_key`,
      );
    try {
      checkStorable(fields);
      const task = prepareTask(checkSchema(SubmitTaskBody, fields as SubmitTaskInput));
      return { ...task, workflowKey: key ?? null };
    } catch (err) {
      if (err instanceof ValidationError) {
        const field = `${at}${err.field ? `.${err.field}` : ''}`;
        throw new ValidationError(`${at}: ${err.message}`, field);
      }
      throw err;
    }
  });
}
