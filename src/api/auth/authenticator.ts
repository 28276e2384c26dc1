import { monotonicMs, type MonotonicClock } from '../../lib/clock.js';
import { describeError, ForbiddenError, UnauthenticatedError } from '../../lib/errors.js';
import type { Logger } from 'pino';
import type { Db } from '../../store/db.js';
import {
  authEnabled,
  findToken,
  hashToken,
  unusableTokens,
  type TokenRole,
} from '../../store/tokens.js';
import { RateLimiter } from './rate-limit.js';

/** What a request wants to do. */
export type Action = 'read' | 'write' | 'admin' | 'work';

/** Who is calling. Anonymous when no token is configured at all (loopback only). */
export interface Principal {
  tokenId: string | null;
  name: string;
  role: TokenRole | 'anonymous';
  /** Requests per second this caller may make; null: the server default. */
  rateLimit: number | null;
}

const GRANTS: Record<TokenRole, ReadonlySet<Action>> = {
  admin: new Set(['read', 'write', 'admin', 'work']),
  submit: new Set(['read', 'write']),
  read: new Set(['read']),
  worker: new Set(['work']),
};

const ACTION_WORDS: Record<Action, string> = {
  read: 'read tasks, queues, workers and metrics',
  write: 'submit, cancel or retry tasks',
  admin: 'change queues, schedules or tokens',
  work: 'connect as a worker',
};

const ANONYMOUS: Principal = {
  tokenId: null,
  name: 'anonymous',
  role: 'anonymous',
  rateLimit: null,
};

/** How long a looked-up token (and the "are tokens in use" answer) is trusted. */
const CACHE_MS = 2000;
/**
 * How often open streams' tokens are re-checked. With one check's round trip on top, a
 * stream ends within {@link CACHE_MS} of its token's revocation or expiry, as documented.
 */
const STREAM_CHECK_MS = 1000;
/**
 * Failed authentications a caller address may make per second (bursts of twice that) when
 * no --rate-limit is set: enough for a misconfigured client to see its 401s, too few to
 * make guessing or lookups a load.
 */
export const AUTH_FAILURES_PER_SECOND = 20;

/** Options for {@link Authenticator}. */
export interface AuthenticatorOptions {
  /** Failed authentications per second per caller address. @default AUTH_FAILURES_PER_SECOND */
  failureRate?: number;
  /** The monotonic clock every cache and timer here runs on. @default performance.now */
  clock?: MonotonicClock;
  logger?: Logger;
}

/**
 * Bearer-token authentication for REST and gRPC. Authentication is on as soon as one
 * usable token exists; before that, the API is open but only reachable on loopback (or
 * with --insecure). Token lookups are cached for {@link CACHE_MS} on a monotonic clock, so
 * a revocation takes effect within two seconds whatever the wall clock does, and streams
 * opened with a token ({@link watch}) end within two seconds of its revocation or expiry.
 * Failed attempts are rate limited per caller address.
 */
export class Authenticator {
  private enabledAt = -Infinity;
  private enabledValue = false;
  private readonly cache = new Map<string, { at: number; principal: Principal | Error }>();
  private readonly failures: RateLimiter;
  private readonly clock: MonotonicClock;
  private readonly watchers = new Map<string, Set<(reason: string) => void>>();
  private watchTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly options: AuthenticatorOptions = {},
  ) {
    this.clock = options.clock ?? monotonicMs;
    this.failures = new RateLimiter(options.failureRate ?? AUTH_FAILURES_PER_SECOND, this.clock);
  }

  /** Whether requests must carry a token. */
  async enabled(): Promise<boolean> {
    if (this.clock() - this.enabledAt >= CACHE_MS) {
      this.enabledValue = await authEnabled(this.db);
      this.enabledAt = this.clock();
    }
    return this.enabledValue;
  }

  /**
   * Resolves the caller from an `Authorization` header value (or a bare token). `caller`
   * (the peer address) is charged for failures.
   * @throws UnauthenticatedError for a missing, unknown, expired or revoked token.
   * @throws RateLimitedError when `caller` failed too often.
   */
  async authenticate(credentials: string | null | undefined, caller = ''): Promise<Principal> {
    if (!(await this.enabled())) return ANONYMOUS;
    const result = credentials
      ? await this.resolve(credentials.replace(/^Bearer\s+/i, '').trim(), caller)
      : new UnauthenticatedError(
          'this API needs a token: send Authorization: Bearer <token> (create one with `taskq token create`)',
        );
    if (result instanceof Error) {
      this.failures.take(caller);
      throw result;
    }
    return result;
  }

  private async resolve(token: string, caller: string): Promise<Principal | Error> {
    const hash = hashToken(token);
    const hit = this.cache.get(hash);
    if (hit && this.clock() - hit.at < CACHE_MS) return hit.principal;
    // A caller that failed too often waits before its tokens are looked up again; tokens
    // already known good keep working, so a neighbour behind the same address is not shut out.
    this.failures.check(caller);
    const principal = await this.lookup(hash);
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(hash, { at: this.clock(), principal });
    return principal;
  }

  private async lookup(hash: string): Promise<Principal | Error> {
    const t = await findToken(this.db, hash);
    if (!t) return new UnauthenticatedError('unknown token');
    if (t.revokedAt) return new UnauthenticatedError(`token '${t.name}' was revoked`);
    // Expiry is a wall-clock date; the database's clock judges it, as for streams.
    if (t.expired) return new UnauthenticatedError(`token '${t.name}' has expired`);
    return { tokenId: t.id, name: t.name, role: t.role, rateLimit: t.rateLimit };
  }

  /**
   * Calls `onEnd` once, when the token `p` was authenticated with is revoked, expires or is
   * deleted. Returns a function that stops watching. Anonymous callers are never ended.
   */
  watch(p: Principal, onEnd: (reason: string) => void): () => void {
    const id = p.tokenId;
    if (!id) return () => undefined;
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    set.add(onEnd);
    this.scheduleCheck();
    return () => {
      const s = this.watchers.get(id);
      s?.delete(onEnd);
      if (s?.size === 0) this.watchers.delete(id);
    };
  }

  /** Stops re-checking watched tokens. */
  stop(): void {
    clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
    this.watchers.clear();
  }

  private scheduleCheck(): void {
    if (this.watchTimer || this.watchers.size === 0) return;
    this.watchTimer = setTimeout(() => void this.checkWatched(), STREAM_CHECK_MS);
    this.watchTimer.unref();
  }

  private async checkWatched(): Promise<void> {
    try {
      for (const id of await unusableTokens(this.db, [...this.watchers.keys()])) {
        const ends = this.watchers.get(id);
        this.watchers.delete(id);
        for (const end of ends ?? [])
          end('the token this stream was opened with is no longer valid');
      }
    } catch (err) {
      // The database is away: requests fail too. Streams stay until the next check can decide.
      this.options.logger?.warn({ err: describeError(err) }, 'checking stream tokens failed');
    } finally {
      this.watchTimer = undefined;
      this.scheduleCheck();
    }
  }
}

/**
 * Checks that `p` may perform `action`.
 * @throws ForbiddenError naming the role and what it cannot do.
 */
export function authorize(p: Principal, action: Action): void {
  if (p.role === 'anonymous' || GRANTS[p.role].has(action)) return;
  throw new ForbiddenError(
    `token '${p.name}' has role '${p.role}', which cannot ${ACTION_WORDS[action]}`,
  );
}
