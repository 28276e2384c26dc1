/**
 * The error tree. Every error the project raises on purpose is a {@link TaskQueueError}
 * with a stable `code`. Mapping to HTTP statuses and gRPC codes happens only at the edges
 * (`api/rest/errors.ts` for HTTP, `api/grpc/` for gRPC).
 */
export class TaskQueueError extends Error {
  /** A stable, machine-readable code, such as `validation` or `not_found`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Input that breaks a rule. `field` names the offending field, e.g. `run_at`. */
export class ValidationError extends TaskQueueError {
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super('validation', message);
    this.field = field;
  }
}

/**
 * A request that cannot be read at all (a body that is not UTF-8 or not JSON, a URL with a
 * broken %-escape), before any field can be named.
 */
export class BadRequestError extends TaskQueueError {
  constructor(message: string) {
    super('bad_request', message);
  }
}

/** The thing asked for does not exist. */
export class NotFoundError extends TaskQueueError {
  constructor(message: string) {
    super('not_found', message);
  }
}

/** The request is valid but the thing is in a state that forbids it (cancel a finished task). */
export class ConflictError extends TaskQueueError {
  constructor(message: string) {
    super('conflict', message);
  }
}

/** No credentials, or credentials that are unknown, expired or revoked. */
export class UnauthenticatedError extends TaskQueueError {
  constructor(message: string) {
    super('unauthenticated', message);
  }
}

/** Valid credentials whose role does not allow the operation. */
export class ForbiddenError extends TaskQueueError {
  constructor(message: string) {
    super('forbidden', message);
  }
}

/** Too many requests (rate limit or queue backpressure). Retry after `retryAfterS` seconds. */
export class RateLimitedError extends TaskQueueError {
  readonly retryAfterS: number;
  constructor(message: string, retryAfterS: number) {
    super('rate_limited', message);
    this.retryAfterS = retryAfterS;
  }
}

/** PostgreSQL cannot be reached right now. Callers may retry. */
export class UnavailableError extends TaskQueueError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unavailable', message, options);
  }
}

/** The database schema was migrated by a newer release than this binary knows. */
export class SchemaTooNewError extends TaskQueueError {
  constructor(message: string) {
    super('schema_too_new', message);
  }
}

/** Bad configuration: the message names the option and says what to do. */
export class ConfigError extends TaskQueueError {
  constructor(message: string) {
    super('config', message);
  }
}

/**
 * SQLSTATEs after which the same statement can simply be tried again: serialization
 * failures, deadlocks, and the server or connection going away.
 */
const RETRYABLE_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000', // connection_exception
  '08003', // connection_does_not_exist
  '08006', // connection_failure
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08004', // sqlserver_rejected_establishment_of_sqlconnection
  '53300', // too_many_connections
]);

const NETWORK_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND']);

/** True when `err` means the database is unreachable or asked us to retry. */
export function isTransientDbError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (RETRYABLE_SQLSTATES.has(code) || NETWORK_ERRNOS.has(code))) {
    return true;
  }
  const message = (err as { message?: unknown }).message;
  return (
    typeof message === 'string' &&
    /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
      message,
    )
  );
}

/** A short, single-line description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
