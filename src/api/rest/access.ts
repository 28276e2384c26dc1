import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isLoopback } from '../../config/index.js';
import { ForbiddenError } from '../../lib/errors.js';
import {
  authorize,
  type Action,
  type Authenticator,
  type Principal,
} from '../auth/authenticator.js';
import type { RateLimiter } from '../auth/rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** What the route does, for authorization. Routes without one are public (health, docs). */
    action?: Action;
  }
}

/** Options for {@link installAccessControl}. */
export interface AccessOptions {
  auth: Authenticator;
  limiter: RateLimiter;
  /** The server listens on loopback only: then the Host header must name loopback too. */
  loopbackOnly: boolean;
  /** /metrics needs no token even when tokens exist. */
  publicMetrics: boolean;
}

/** Routes anyone may call: health, readiness, the API docs and the dashboard's files. */
const PUBLIC = /^\/(healthz|readyz|docs|ui)(\/|$)|^\/$/;
const METRICS = /^\/metrics\/?$/;
const EVENT_STREAM = /\/events$/;

/**
 * Authentication, authorization, rate limiting and browser checks for every route.
 * Each route's action defaults from its method (GET: read; anything else: write) unless it
 * declares one (admin for settings). Health, readiness, the API docs and the dashboard's
 * files are public; /metrics needs a token that may read, unless `publicMetrics`.
 *
 * With no token configured the API is open, but only to this machine: a browser page from
 * another origin (CSRF, including sandboxed frames whose origin is `null`) or reached
 * through a foreign host name (DNS rebinding) is refused.
 */
export function installAccessControl(app: FastifyInstance, o: AccessOptions): void {
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    if (PUBLIC.test(route.url) || (o.publicMetrics && METRICS.test(route.url))) return;
    const method = Array.isArray(route.method) ? route.method[0] : route.method;
    route.config = {
      ...route.config,
      action: route.config?.action ?? (method === 'GET' || method === 'HEAD' ? 'read' : 'write'),
    };
  });
  app.addHook('onRequest', async (req) => {
    const action = req.routeOptions.config.action;
    if (!action) return;
    const enabled = await o.auth.enabled();
    if (!enabled) checkBrowser(req, o.loopbackOnly);
    // EventSource cannot send headers, so the event streams (only) take ?access_token=.
    const queryToken =
      req.method === 'GET' && EVENT_STREAM.test(req.routeOptions.url ?? '')
        ? (req.query as { access_token?: string } | undefined)?.access_token
        : undefined;
    const principal = await o.auth.authenticate(
      req.headers.authorization ?? (queryToken ? `Bearer ${queryToken}` : undefined),
      `ip:${req.ip}`,
    );
    authorize(principal, action);
    o.limiter.take(principal.tokenId ?? `ip:${req.ip}`, principal.rateLimit);
    req.principal = principal;
  });
}

/** The host name of a Host header or URL authority, without port or IPv6 brackets. */
function hostnameOf(authority: string): string | null {
  try {
    return new URL(`http://${authority}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return null;
  }
}

function checkBrowser(req: FastifyRequest, loopbackOnly: boolean): void {
  const hostHeader = req.headers.host ?? '';
  const host = hostHeader ? hostnameOf(hostHeader) : '';
  if (loopbackOnly && (host === null || (host && !isLoopback(host)))) {
    throw new ForbiddenError(
      `Host '${hostHeader}' refused: with no API token configured this server answers only to localhost and loopback addresses (DNS rebinding protection)`,
    );
  }
  const origin = req.headers.origin;
  if (origin === undefined) return; // not a browser's cross-origin-capable request: curl, SDKs
  if (!sameOrigin(origin, `${req.protocol}://${hostHeader}`)) {
    throw new ForbiddenError(
      `request from origin ${origin === 'null' ? "'null' (a sandboxed or file page)" : origin} refused: with no API token configured, only pages this server serves may call the API`,
    );
  }
}

/** Whether an Origin header names exactly this server (scheme, host and port). */
function sameOrigin(origin: string, own: string): boolean {
  try {
    const a = new URL(origin);
    const b = new URL(own);
    return a.origin !== 'null' && a.origin === b.origin;
  } catch {
    return false;
  }
}
