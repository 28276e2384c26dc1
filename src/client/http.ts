import { ApiError, ConnectionError, networkReason } from './errors.js';

/** The fetch function the client uses; Node's global `fetch` unless one is given. */
export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

/** How the transport talks to the API. */
export interface TransportOptions {
  baseUrl: string;
  token: string | undefined;
  retries: number;
  fetch: FetchFunction;
  timeoutMs: number;
  maxRetryDelayMs: number;
}

/** One request's parts. */
export interface RequestParts {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** For streams: no overall timeout (the stream stays open). */
  stream?: boolean;
}

/** First retry delay without a Retry-After; doubles per retry, with jitter. */
const RETRY_BASE_MS = 250;

/**
 * Sends requests to the API. 503 (database away) and 429 (rate limit, backpressure) are
 * retried up to `retries` times: after the server's Retry-After when it sends one, else after
 * an exponential, jittered delay. Nothing else is retried, so a submit is never sent twice
 * for an answer other than those two, which mean the server did not take it.
 */
export class Transport {
  constructor(readonly options: TransportOptions) {}

  /** Sends a request and parses the JSON answer. @throws ApiError, ConnectionError */
  async json<T>(parts: RequestParts): Promise<{ status: number; body: T; headers: Headers }> {
    const res = await this.send(parts);
    const text = await res.text();
    try {
      return {
        status: res.status,
        body: (text ? JSON.parse(text) : undefined) as T,
        headers: res.headers,
      };
    } catch {
      throw new ApiError(res.status, 'bad_response', `the server's answer is not JSON`);
    }
  }

  /** Sends a request; resolves with the response once it is a 2xx. @throws ApiError, ConnectionError */
  async send(parts: RequestParts): Promise<Response> {
    const { baseUrl, retries, maxRetryDelayMs } = this.options;
    const url = `${baseUrl}${parts.path}`;
    for (let attempt = 0; ; attempt++) {
      const res = await this.fetchOnce(url, parts);
      if (res.ok) return res;
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      const error = await toApiError(res, retryAfterMs);
      if (!(res.status === 503 || res.status === 429) || attempt >= retries) throw error;
      const delay =
        retryAfterMs !== undefined
          ? retryAfterMs + Math.random() * Math.min(retryAfterMs * 0.1, 1000)
          : RETRY_BASE_MS * 2 ** attempt * (0.5 + Math.random() / 2);
      if (delay > maxRetryDelayMs) throw error;
      await sleep(delay, parts.signal);
    }
  }

  private async fetchOnce(url: string, parts: RequestParts): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...parts.headers };
    if (parts.body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    const signals = [parts.signal, parts.stream ? undefined : timeoutSignal(this.options)];
    const signal = anySignal(signals.filter((s): s is AbortSignal => s !== undefined));
    // Serialised before the request, so that a body JSON cannot express (too deep, a cycle)
    // is reported as what it is, not as a network failure.
    let body: string | undefined;
    try {
      body = parts.body === undefined ? undefined : JSON.stringify(parts.body);
    } catch (err) {
      throw new TypeError(`the request body cannot be sent as JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      return await this.options.fetch(url, {
        method: parts.method,
        headers,
        ...(body !== undefined ? { body } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (parts.signal?.aborted) throw parts.signal.reason;
      if (signal?.aborted)
        throw new ConnectionError(
          this.options.baseUrl,
          `no answer within ${this.options.timeoutMs} ms`,
          { cause: err },
        );
      throw new ConnectionError(this.options.baseUrl, networkReason(err), { cause: err });
    }
  }
}

function timeoutSignal(o: TransportOptions): AbortSignal | undefined {
  return Number.isFinite(o.timeoutMs) && o.timeoutMs > 0
    ? AbortSignal.timeout(o.timeoutMs)
    : undefined;
}

function anySignal(signals: AbortSignal[]): AbortSignal | undefined {
  return signals.length <= 1 ? signals[0] : AbortSignal.any(signals);
}

/** Retry-After as delta seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

async function toApiError(res: Response, retryAfterMs: number | undefined): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let e: { code?: unknown; message?: unknown; field?: unknown } | undefined;
  try {
    e = (JSON.parse(text) as { error?: typeof e }).error;
  } catch {
    // not JSON: a proxy's page, say
  }
  return new ApiError(
    res.status,
    typeof e?.code === 'string' ? e.code : 'http_error',
    typeof e?.message === 'string' ? e.message : `HTTP ${res.status} ${res.statusText}`.trim(),
    typeof e?.field === 'string' ? e.field : undefined,
    retryAfterMs,
  );
}

/** Waits `ms`; rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
