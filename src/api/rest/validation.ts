import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, FastifySchema } from 'fastify';

const common: Options = {
  allErrors: false,
  removeAdditional: false,
  useDefaults: false,
  strict: false,
};

/**
 * Request validation with two Ajv instances: query strings and path parameters are text on
 * the wire, so they are coerced ("10" → 10); bodies are JSON, so they are not: a number
 * where text belongs, or 0 where a limit belongs, is an error rather than quietly turned
 * into "12345" or null.
 */
export function installValidators(app: FastifyInstance): void {
  const strict = new Ajv({ ...common, coerceTypes: false });
  const coercing = new Ajv({ ...common, coerceTypes: 'array' });
  addFormats.default(strict);
  addFormats.default(coercing);
  app.setValidatorCompiler(({ schema, httpPart }: { schema: FastifySchema; httpPart?: string }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema as object),
  );
}
