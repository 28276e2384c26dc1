import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { ValidationError } from '../../lib/errors.js';
import { describePattern } from './describe.js';

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
  if (check.Check(value)) return value;
  const top = check.Errors(value).First();
  const first = top && deepest(top);
  const field = first?.path.replace(/^\//, '').replace(/\//g, '.') ?? '';
  const message = first ? describe(first) : 'is invalid';
  throw new ValidationError(field ? `${field} ${message}` : `input ${message}`, field || undefined);
}

/**
 * Inside a union (most often a setting or null), the error of the branch that got furthest,
 * so the message names the field within it, as REST's does: `rate_limit.count must be at
 * least 1`, not `rate_limit must be union value`.
 */
function deepest(e: ValueError): ValueError {
  if (e.type !== ValueErrorType.Union) return e;
  let best = e;
  for (const branch of e.errors) {
    const first = branch.First();
    if (!first) continue;
    const inner = deepest(first);
    if (best === e || inner.path.length > best.path.length) best = inner;
  }
  return best;
}

/** The words REST answers use for the same rule (see formatSchemaErrors in errors.ts). */
function describe(e: ValueError): string {
  const s = e.schema as Record<string, unknown>;
  switch (e.type) {
    case ValueErrorType.StringMinLength:
      return s.minLength === 1
        ? 'must not be empty'
        : `must be at least ${String(s.minLength)} characters`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${String(s.maxLength)} characters`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${String(s.minimum)}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${String(s.maximum)}`;
    case ValueErrorType.StringPattern:
      return describePattern(String(s.pattern));
    case ValueErrorType.Integer:
      return 'must be an integer';
    default:
      return e.message.replace(/^Expected/, 'must be').toLowerCase();
  }
}
