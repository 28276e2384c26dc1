import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValidationError } from '../lib/errors.js';

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

/**
 * Checks a value against a TypeBox schema, for callers that do not come through Fastify's
 * validator (gRPC, the SDKs, tests). REST requests are checked by Fastify with the same
 * schemas before they get here.
 * @throws ValidationError naming the first bad field.
 */
export function checkSchema<S extends TSchema>(schema: S, value: unknown): Static<S> {
  let check = compiled.get(schema);
  if (!check) compiled.set(schema, (check = TypeCompiler.Compile(schema)));
  if (check.Check(value)) return value as Static<S>;
  const first = check.Errors(value).First();
  const field = first?.path.replace(/^\//, '').replace(/\//g, '.') ?? '';
  const message = first?.message.replace(/^Expected/, 'must be').toLowerCase() ?? 'is invalid';
  throw new ValidationError(field ? `${field} ${message}` : `input ${message}`, field || undefined);
}
