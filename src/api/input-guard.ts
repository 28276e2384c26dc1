import { Type } from '@sinclair/typebox';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { ValidationError } from '../lib/errors.js';
import { fieldPath } from './errors.js';
import { parseJsonBody } from './json-body.js';

/**
 * The one gate every request input passes, whatever its route: bodies, query strings and
 * path parameters (and gRPC submits, which call {@link checkStorable} themselves). It refuses
 * what PostgreSQL cannot store, or would store as something else, with a 400 naming the
 * field, instead of the 500 a failed INSERT gives or the changed value a lenient decoder
 * gives. Rules that are about one field (lengths, patterns) stay in the route schemas.
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

/**
 * Refuses a query string whose %-escapes are not UTF-8 (`%E0%A4%A`, `%ED%A0%80`): the query
 * parser keeps such text undecoded, so the route would silently get other text than sent.
 * @throws ValidationError naming the parameter.
 */
export function checkQueryEncoding(url: string): void {
  const q = url.indexOf('?');
  if (q < 0 || !url.includes('%', q)) return;
  for (const pair of url.slice(q + 1).split('&')) {
    if (!pair.includes('%')) continue;
    const eq = pair.indexOf('=');
    const rawKey = (eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' ');
    let key = rawKey;
    try {
      key = decodeURIComponent(rawKey);
      decodeURIComponent(eq < 0 ? '' : pair.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      throw new ValidationError(
        `query parameter ${key.slice(0, 64)} is not valid: percent-encode it as UTF-8`,
        key,
      );
    }
  }
}

/** Routes of the API proper, where an unknown query parameter is a mistake to report. */
const API_ROUTE = /^\/(v1\/|schedule$|status$)/;
const NO_QUERY = Type.Object({}, { additionalProperties: false });

/**
 * Gives every API route a strict query schema: one without any refuses every query
 * parameter, and one that does not say otherwise refuses parameters it does not list, just
 * as bodies refuse unknown fields. A typo (`?stauts=dead`) is then an error, not a filter
 * silently left out.
 */
function strictQuery(route: RouteOptions): void {
  if (!API_ROUTE.test(route.url)) return;
  const schema = route.schema ?? {};
  const query = schema.querystring as Record<string, unknown> | undefined;
  if (query && query.additionalProperties !== undefined) return;
  route.schema = {
    ...schema,
    querystring: query ? { ...query, additionalProperties: false } : NO_QUERY,
  };
}

/**
 * Installs the gate on `app`: the JSON body parser (for every content type, since the seed's
 * `curl -d` sends a form type), the strict query schemas, and the check of every body, query
 * and path parameter before schema validation. Call before any route is registered.
 */
export function installInputGuard(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addHook('onRoute', strictQuery);
  app.addHook('preValidation', (req, _reply, done) => {
    try {
      checkQueryEncoding(req.url);
      checkStorable(req.query, 'querystring');
      checkStorable(req.params, 'params');
      checkStorable(req.body, 'body');
      done();
    } catch (err) {
      done(err as Error);
    }
  });
}
