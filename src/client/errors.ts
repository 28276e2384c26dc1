/**
 * An error answer from the API (4xx or 5xx), with the API's error code and, for bad input,
 * the field it names.
 */
export class ApiError extends Error {
  /**
   * @param status the HTTP status, e.g. 400, 404, 409, 429, 503
   * @param code the API's error code, e.g. `validation`, `not_found`, `conflict`
   * @param field the request field the error is about, when the API names one
   * @param retryAfterMs what the server's Retry-After asked for, when it sent one
   */
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * The API could not be reached: connection refused, host not found, a reset, or no answer
 * within the request timeout. `cause` holds the underlying error.
 */
export class ConnectionError extends Error {
  /**
   * @param url the address that could not be reached
   * @param reason a short description, e.g. `connection refused`
   */
  constructor(
    readonly url: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach ${url}: ${reason}`, options);
    this.name = 'ConnectionError';
  }
}

/** A wait ran out of time before the task finished. */
export class WaitTimeoutError extends Error {
  /**
   * @param taskId the task waited for
   * @param lastStatus the last status seen, if any
   */
  constructor(
    readonly taskId: string,
    readonly lastStatus: string | undefined,
    timeoutMs: number,
  ) {
    super(`task ${taskId} is still ${lastStatus ?? 'unfinished'} after ${timeoutMs} ms`);
    this.name = 'WaitTimeoutError';
  }
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed by the server',
};

/** A short human reason for a failed fetch (Node puts the system error in `cause`). */
export function networkReason(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_REASONS[code]) return NETWORK_REASONS[code];
    if (e.cause === undefined) break;
    e = e.cause;
  }
  return e instanceof Error ? e.message : String(e);
}
