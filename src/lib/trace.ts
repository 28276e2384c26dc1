import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { VERSION } from './version.js';

/**
 * Trace propagation for a task's life: the submit span's context is stored with the task
 * (a W3C `traceparent`) and carried to the worker in its assignment, so the spans of the
 * scheduler, coordinator and worker join one trace. Without an OpenTelemetry SDK registered
 * (the default) every call here is a cheap no-op and nothing is stored.
 */
export const tracer = () => trace.getTracer('task-queue', VERSION);

export { SpanKind, SpanStatusCode };

/** The `traceparent` of a span, or null when it is not being recorded. */
export function traceparentOf(span: Span): string | null {
  if (!span.isRecording()) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return carrier.traceparent ?? null;
}

/** The context a stored or received `traceparent` names (the root context when absent). */
export function contextOf(traceparent: string | null | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** Starts a span as a child of `traceparent`. */
export function startSpan(
  name: string,
  parent: string | null | undefined,
  attributes: Record<string, string | number | boolean>,
  kind: SpanKind = SpanKind.INTERNAL,
): Span {
  return tracer().startSpan(name, { kind, attributes }, contextOf(parent));
}

/** Ends a span as failed with `error`. */
export function failSpan(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : new Error(String(error)));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
  span.end();
}
