/**
 * The dashboard's one way to the API: same-origin REST calls with the stored bearer token,
 * and the connection state every page shows (unreachable, database down, login needed).
 */

import { ApiError } from '../../src/client/errors.js';

// An answer other than 2xx, or no answer at all (status 0): the SDK's error, so the API's
// error shape is declared once.
export { ApiError };

const TOKEN_KEY = 'taskq.token';

/** What the header banners show. */
export interface Connection {
  /** The last request got an HTTP answer. */
  reachable: boolean;
  /** The API answered 503: it is up but cannot reach PostgreSQL. */
  unavailable: string | null;
  /** The API answered 401: a token is needed (or the stored one was refused). */
  needsLogin: boolean;
  loginMessage: string | null;
  /** Bumped on every recovery and login, so pages reload what they show. */
  generation: number;
  token: string | null;
}

function readToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

let state: Connection = {
  reachable: true,
  unavailable: null,
  needsLogin: false,
  loginMessage: null,
  generation: 0,
  token: readToken(),
};
const watchers = new Set<() => void>();

function update(patch: Partial<Connection>): void {
  const next = { ...state, ...patch };
  const changed = (Object.keys(patch) as Array<keyof Connection>).some((k) => state[k] !== next[k]);
  if (!changed) return;
  state = next;
  for (const w of watchers) w();
}

/** For useSyncExternalStore. */
export function subscribeConnection(fn: () => void): () => void {
  watchers.add(fn);
  return () => watchers.delete(fn);
}

export function getConnection(): Connection {
  return state;
}

/** Stores the token (or forgets it, with null) and makes every page reload. */
export function setToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // private mode: the token lasts as long as the page
  }
  update({ token, needsLogin: false, loginMessage: null, generation: state.generation + 1 });
}

/**
 * The API answered 401 to a request sent with `sentToken` (null: none). A refused token is
 * forgotten, here and in localStorage: nobody is signed in any more, so the page shows the
 * sign-in form and no "Sign out". An answer to a token replaced meanwhile (a new sign-in)
 * changes nothing.
 */
function refused(sentToken: string | null, message: string): void {
  if (sentToken !== state.token) return;
  if (sentToken) forgetStoredToken();
  update({
    token: null,
    needsLogin: true,
    loginMessage: sentToken ? `The token was refused: ${message}` : null,
  });
}

function forgetStoredToken(): void {
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch {
    // private mode: nothing stored
  }
}

let probe: number | null = null;

/** While the API is unreachable, ask /healthz every 2 s; the first answer ends the outage. */
function startProbe(): void {
  if (probe !== null) return;
  probe = window.setInterval(() => {
    fetch('/healthz', { cache: 'no-store' }).then(
      (res) => {
        if (res.ok) markReachable();
      },
      () => undefined,
    );
  }, 2000);
}

function markReachable(): void {
  if (probe !== null) {
    window.clearInterval(probe);
    probe = null;
  }
  if (!state.reachable) update({ reachable: true, generation: state.generation + 1 });
}

function markUnreachable(): void {
  update({ reachable: false });
  startProbe();
}

interface ErrorBody {
  error?: { code?: string; message?: string; field?: string };
}

/**
 * Calls the API and returns its JSON. Throws ApiError; a 401 also opens the login form, a
 * 503 and a network failure also raise the page's banner.
 */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const sentToken = state.token;
  if (sentToken) headers.authorization = `Bearer ${sentToken}`;
  // No content-type without a body: the API refuses an empty JSON body.
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      cache: 'no-store',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    markUnreachable();
    throw new ApiError(0, 'unreachable', 'The API cannot be reached.');
  }
  markReachable();
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (a proxy's error page): reported below by status
  }
  if (res.ok) {
    if (state.unavailable) update({ unavailable: null, generation: state.generation + 1 });
    return json as T;
  }
  const err = (json as ErrorBody | null)?.error;
  const message = err?.message ?? `${res.status} ${res.statusText}`;
  if (res.status === 401) refused(sentToken, message);
  if (res.status === 503) update({ unavailable: message });
  if (res.status === 403) {
    throw new ApiError(
      403,
      err?.code ?? 'forbidden',
      state.token ? "Your token's role cannot do this." : message,
    );
  }
  return Promise.reject(new ApiError(res.status, err?.code ?? 'http', message, err?.field));
}

/** An error's message for the page. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A URL for EventSource, which cannot send headers: the token goes in the query. */
export function eventsUrl(path: string, params: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  if (state.token) q.set('access_token', state.token);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * Called when an event stream drops: asks /healthz once, and raises the unreachable banner
 * only when that fails too (a stream also drops when a proxy or the server closes it).
 */
export function checkReachable(): void {
  fetch('/healthz', { cache: 'no-store' }).then(
    () => markReachable(),
    () => markUnreachable(),
  );
}

/** Called when an event stream opens: the API is back. */
export function reportReachable(): void {
  markReachable();
}
