import { ForbiddenError, UnauthenticatedError } from '../lib/errors.js';
import type { Db } from '../store/db.js';
import { authEnabled, findToken, hashToken, type TokenRole } from '../store/tokens.js';

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
  read: 'read tasks, queues and workers',
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
 * Bearer-token authentication for REST and gRPC. Authentication is on as soon as one
 * usable token exists; before that, the API is open but only reachable on loopback (or
 * with --insecure). Token lookups are cached for {@link CACHE_MS}, so a revocation takes
 * effect within two seconds.
 */
export class Authenticator {
  private enabledAt = 0;
  private enabledValue = false;
  private readonly cache = new Map<string, { at: number; principal: Principal | Error }>();

  constructor(private readonly db: Db) {}

  /** Whether requests must carry a token. */
  async enabled(): Promise<boolean> {
    if (Date.now() - this.enabledAt > CACHE_MS) {
      this.enabledValue = await authEnabled(this.db);
      this.enabledAt = Date.now();
    }
    return this.enabledValue;
  }

  /**
   * Resolves the caller from an `Authorization` header value (or a bare token).
   * @throws UnauthenticatedError for a missing, unknown, expired or revoked token.
   */
  async authenticate(credentials: string | null | undefined): Promise<Principal> {
    if (!(await this.enabled())) return ANONYMOUS;
    if (!credentials) {
      throw new UnauthenticatedError(
        'this API needs a token: send Authorization: Bearer <token> (create one with `taskq token create`)',
      );
    }
    const token = credentials.replace(/^Bearer\s+/i, '').trim();
    const hash = hashToken(token);
    const hit = this.cache.get(hash);
    const result = hit && Date.now() - hit.at < CACHE_MS ? hit.principal : await this.lookup(hash);
    if (!hit || hit.principal !== result)
      this.cache.set(hash, { at: Date.now(), principal: result });
    if (this.cache.size > 10_000) this.cache.clear();
    if (result instanceof Error) throw result;
    return result;
  }

  private async lookup(hash: string): Promise<Principal | Error> {
    const t = await findToken(this.db, hash);
    if (!t) return new UnauthenticatedError('unknown token');
    if (t.revokedAt) return new UnauthenticatedError(`token '${t.name}' was revoked`);
    if (t.expiresAt && t.expiresAt.getTime() <= Date.now())
      return new UnauthenticatedError(`token '${t.name}' has expired`);
    return { tokenId: t.id, name: t.name, role: t.role, rateLimit: t.rateLimit };
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
