import { QUEUE_NAME_PATTERN, QUEUE_NAME_RULE } from '../../lib/queue-name.js';

/** How a field is named in messages and in `error.field`: `tasks.1.payload.name`. */
export function fieldPath(path: ReadonlyArray<string | number>): string {
  const text = path.join('.');
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Patterns whose rule reads better in words than as a regular expression. */
const PATTERN_RULES: Record<string, string> = { [QUEUE_NAME_PATTERN]: QUEUE_NAME_RULE };

/** What a value failing `pattern` must be, for messages: "has characters that are not allowed (…)". */
export function describePattern(pattern: string): string {
  const rule = PATTERN_RULES[pattern];
  return rule ? `must be ${rule}` : `has characters that are not allowed (allowed: ${pattern})`;
}
