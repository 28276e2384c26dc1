import { Type } from '@sinclair/typebox';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { ValidationError } from '../../lib/errors.js';
import { checkStorable } from '../schemas/storable.js';
import { parseJsonBody } from './json-body.js';

/**
 * The one gate every request input passes, whatever its route: bodies, query strings and
 * path parameters run through {@link checkStorable} (gRPC submits call it themselves), so what
 * PostgreSQL cannot store, or would store as something else, is a 400 naming the field
 * instead of the 500 a failed INSERT gives or the changed value a lenient decoder gives.
 * Rules that are about one field (lengths, patterns) stay in the route schemas.
 */

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
