import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isLoopback } from '../config/index.js';
import { ForbiddenError } from '../lib/errors.js';
import { authorize, type Action, type Authenticator, type Principal } from './auth.js';
import type { RateLimiter } from './rate-limit.js';

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
}

const PUBLIC = /^\/(healthz|readyz|docs|ui|metrics)(\/|$)|^\/$/;

/**
 * Authentication, authorization, rate limiting and browser checks for every route.
 * Each route's action defaults from its method (GET: read; anything else: write) unless it
 * declares one (admin for settings). Health, readiness and the API docs are public.
 *
 * With no token configured the API is open, but only to this machine: a browser page from
 * another origin (CSRF) or reached through a foreign host name (DNS rebinding) is refused.
 */
export function installAccessControl(app: FastifyInstance, o: AccessOptions): void {
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    if (PUBLIC.test(route.url)) return;
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
    const queryToken =
      req.method === 'GET'
        ? (req.query as { access_token?: string } | undefined)?.access_token
        : undefined;
    const principal = await o.auth.authenticate(
      req.headers.authorization ?? (queryToken ? `Bearer ${queryToken}` : undefined),
    );
    authorize(principal, action);
    o.limiter.take(principal.tokenId ?? `ip:${req.ip}`, principal.rateLimit);
    req.principal = principal;
  });
}

function hostnameOf(hostHeader: string): string {
  try {
    return new URL(`http://${hostHeader}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return hostHeader;
  }
}

function checkBrowser(req: FastifyRequest, loopbackOnly: boolean): void {
  const host = req.headers.host ? hostnameOf(req.headers.host) : '';
  if (loopbackOnly && host && !isLoopback(host)) {
    throw new ForbiddenError(
      `Host '${host}' refused: with no API token configured this server answers only to localhost names (DNS rebinding protection)`,
    );
  }
  const origin = req.headers.origin;
  if (origin && origin !== 'null') {
    let originHost = '';
    try {
      originHost = new URL(origin).hostname.replace(/^\[|\]$/g, '');
    } catch {
      // unparseable: refused below
    }
    if (!isLoopback(originHost) && originHost !== host) {
      throw new ForbiddenError(
        `cross-origin request from ${origin} refused: with no API token configured, only pages served from this machine may call the API`,
      );
    }
  }
}
