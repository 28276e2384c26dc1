import { ValidationError } from '../../lib/errors.js';
import { fieldPath } from './describe.js';

/**
 * What PostgreSQL cannot store, or would store as something else: one check for every input,
 * whatever its edge. REST runs it on every body, query string and path parameter (the input
 * guard); gRPC submits and the services call it themselves.
 */

/** Which part of a request a value came from; it words the messages as the schema errors do. */
export type InputPart = 'body' | 'querystring' | 'params';

const PART_PREFIX: Record<InputPart, string> = {
  body: '',
  querystring: 'query parameter ',
  params: 'path parameter ',
};

// Fast screen: only a string holding one of these needs a closer look.
// eslint-disable-next-line no-control-regex -- NUL is exactly what it looks for
const SUSPECT = /[\u0000\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `__proto__` keys (and `constructor.prototype`) are refused, wherever they come from. */
export const PROTOTYPE_POLLUTION =
  'JavaScript code merging this object into another would change the prototype of every object (prototype pollution)';

/** A step in the path to a value, linked to its parent so that paths cost nothing until used. */
interface Step {
  parent: Step | null;
  key: string | number;
}

function pathOf(step: Step | null): Array<string | number> {
  const keys: Array<string | number> = [];
  for (let s = step; s; s = s.parent) keys.push(s.key);
  return keys.reverse();
}

/** What is wrong with a string, or null. */
function textProblem(s: string): string | null {
  if (!SUSPECT.test(s)) return null;
  if (s.includes('\u0000')) return 'NUL characters (U+0000): PostgreSQL cannot store them';
  if (LONE_SURROGATE.test(s))
    return 'a lone surrogate (U+D800 to U+DFFF without its pair): it is not Unicode text, and would be stored as U+FFFD';
  return null;
}

/**
 * Checks that every string (object keys included) and number in `value`, however deeply
 * nested, can be stored as given: no NUL, no lone surrogate, no NaN or Infinity. Keys that
 * JavaScript code would turn into prototype changes (`__proto__`, and a `constructor` object
 * holding `prototype`) are refused too: stored, they would reach every handler and client.
 * Walks without recursion, so any depth is safe.
 * @throws ValidationError naming the field.
 */
export function checkStorable(value: unknown, part: InputPart = 'body'): void {
  const refuse = (step: Step | null, what: string): never => {
    const path = pathOf(step);
    const field = path.length > 0 ? fieldPath(path) : undefined;
    const subject = field ? `${PART_PREFIX[part]}${field}` : 'request body';
    throw new ValidationError(`${subject} ${what}`, field);
  };
  const stack: Array<[unknown, Step | null]> = [[value, null]];
  while (stack.length > 0) {
    const [v, at] = stack.pop() as [unknown, Step | null];
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) refuse(at, `must not contain ${problem}`);
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) refuse(at, `must be a finite number (got ${v})`);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], { parent: at, key: i }]);
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i] as [string, unknown];
        const problem = textProblem(key);
        if (problem) refuse(at, `has a key with ${problem}`);
        const step = { parent: at, key };
        if (key === '__proto__') refuse(step, `is refused: ${PROTOTYPE_POLLUTION}`);
        if (
          key === 'constructor' &&
          typeof child === 'object' &&
          child !== null &&
          'prototype' in child
        )
          refuse(step, `holds "prototype", and is refused: ${PROTOTYPE_POLLUTION}`);
        stack.push([child, step]);
      }
    }
  }
}
