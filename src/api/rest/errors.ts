import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimitedError, TaskQueueError, ValidationError } from '../../lib/errors.js';
import { describePattern } from '../schemas/describe.js';

const STATUS_BY_CODE: Record<string, number> = {
  validation: 400,
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  rate_limited: 429,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
};

const FASTIFY_ERRORS: Record<string, { status: number; message: (e: FastifyError) => string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, message: () => 'request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, message: (e) => e.message },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    message: () => 'Content-Length does not match the body',
  },
};

/** The JSON error body every route answers with. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/**
 * Maps errors to HTTP answers at the edge: our own tree by code, Fastify's parser errors by
 * their code, and anything else to a 500 that is logged (and never shows internals).
 * `bodyLimit` is the server's; a route with its own limit (batches) is told its own.
 */
export function installErrorHandler(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof TaskQueueError) {
      const status = STATUS_BY_CODE[err.code] ?? 500;
      if (status === 503) void reply.header('retry-after', '2');
      if (err instanceof RateLimitedError)
        void reply.header('retry-after', String(err.retryAfterS));
      if (status === 401) void reply.header('www-authenticate', 'Bearer');
      const body: ErrorBody = { error: { code: err.code, message: err.message } };
      if (err instanceof ValidationError && err.field) body.error.field = err.field;
      return reply.code(status).send(body);
    }
    const known = err.code ? FASTIFY_ERRORS[err.code] : undefined;
    if (known) {
      const message =
        err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? `request body exceeds the limit of ${req.routeOptions.bodyLimit ?? bodyLimit} bytes`
          : known.message(err);
      return reply
        .code(known.status)
        .send({ error: { code: known.status === 413 ? 'too_large' : 'bad_request', message } });
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return reply
        .code(err.statusCode)
        .send({ error: { code: 'bad_request', message: err.message } });
    }
    req.log.error({ err }, 'unhandled error');
    return reply
      .code(500)
      .send({ error: { code: 'internal', message: 'internal error; see the server log' } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` },
    }),
  );
}

/**
 * Fastify's `frameworkErrors`: a path whose %-escapes do not decode (`/v1/tasks/%E0%A4%A`)
 * never reaches a route. Answer it in the API's error format rather than Fastify's.
 */
export function answerBadUrl(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const message =
    err.code === 'FST_ERR_BAD_URL'
      ? 'the URL path is not valid: percent-encode it as UTF-8 (%-escapes of whole characters)'
      : 'the request could not be routed';
  void reply.code(400).send({ error: { code: 'bad_request', message } });
}

/** The parts of an Ajv error that the formatter reads. */
interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

const TYPE_NAMES: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a JSON object',
  array: 'an array',
};

/**
 * Turns the first schema violation into a ValidationError whose message names the field,
 * e.g. "priority must be an integer" or "unknown field 'sheduled_at'".
 */
export function formatSchemaErrors(errors: SchemaError[], dataVar: string): Error {
  const e = errors[0];
  if (!e) return new ValidationError(`invalid ${dataVar}`);
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const where =
    dataVar === 'body'
      ? ''
      : `${dataVar === 'querystring' ? 'query parameter' : dataVar === 'params' ? 'path parameter' : dataVar} `;
  const p = e.params;
  switch (e.keyword) {
    case 'required': {
      const field = [path, String(p.missingProperty)].filter(Boolean).join('.');
      return new ValidationError(`${where}${field} is required`, field);
    }
    case 'additionalProperties': {
      const field = [path, String(p.additionalProperty)].filter(Boolean).join('.');
      return new ValidationError(`unknown ${where || 'field '}'${field}'`, field);
    }
    case 'type': {
      if (!path)
        return new ValidationError(
          dataVar === 'body'
            ? 'request body must be a JSON object'
            : `${dataVar} must be an object`,
        );
      return new ValidationError(
        `${where}${path} must be ${TYPE_NAMES[String(p.type)] ?? String(p.type)}`,
        path,
      );
    }
    case 'enum':
      return new ValidationError(
        `${where}${path} must be one of ${(p.allowedValues as unknown[]).join(', ')}`,
        path,
      );
    case 'minLength':
      return new ValidationError(
        p.limit === 1
          ? `${where}${path} must not be empty`
          : `${where}${path} must be at least ${String(p.limit)} characters`,
        path,
      );
    case 'maxLength':
      return new ValidationError(
        `${where}${path} must be at most ${String(p.limit)} characters`,
        path,
      );
    case 'pattern':
      return new ValidationError(`${where}${path} ${describePattern(String(p.pattern))}`, path);
    default:
      return new ValidationError(
        `${where}${path || dataVar} ${e.message ?? 'is invalid'}`,
        path || undefined,
      );
  }
}
