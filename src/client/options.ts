import type { FetchFunction, TransportOptions } from './http.js';

/** Options for {@link TaskQueueClient}. */
export interface ClientOptions {
  /** The scheduler's or a coordinator's REST address. @default 'http://127.0.0.1:8081' */
  baseUrl?: string;
  /** An API token, sent as `Authorization: Bearer <token>`. @default none */
  token?: string;
  /**
   * Retries of a request answered 503 (database away) or 429 (rate limit, backpressure).
   * Other errors are never retried. @default 3
   */
  retries?: number;
  /** The fetch to use, e.g. one with a proxy agent. @default globalThis.fetch */
  fetch?: FetchFunction;
  /** Longest wait for one answer (streams excepted); 0 for none. @default 30000 */
  timeoutMs?: number;
  /**
   * A Retry-After longer than this is not waited for: the ApiError is thrown at once, with
   * `retryAfterMs` set. @default 30000
   */
  maxRetryDelayMs?: number;
}

/** Options every call takes. */
export interface CallOptions {
  /** Aborts the call; it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Fills in defaults and checks the fields: what the client's transport runs with, its base
 * URL without a trailing slash.
 * @throws TypeError when `baseUrl` is not an http(s) URL, or `retries` is negative.
 */
export function resolveClientOptions(options: ClientOptions): TransportOptions {
  const baseUrl = (options.baseUrl ?? 'http://127.0.0.1:8081').replace(/\/+$/, '');
  let protocol = '';
  try {
    protocol = new URL(baseUrl).protocol;
  } catch {
    // reported below
  }
  if (protocol !== 'http:' && protocol !== 'https:')
    throw new TypeError(`baseUrl must be an http:// or https:// URL (got "${baseUrl}")`);
  const retries = options.retries ?? 3;
  if (!Number.isInteger(retries) || retries < 0)
    throw new TypeError(`retries must be a whole number >= 0 (got ${retries})`);
  return {
    baseUrl,
    token: options.token || undefined,
    retries,
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    timeoutMs: options.timeoutMs ?? 30_000,
    maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
  };
}
