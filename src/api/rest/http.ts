import type { Duplex } from 'node:stream';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifySchema } from 'fastify';
import type { Logger } from 'pino';
import type { Db } from '../../store/db.js';
import { answerBadUrl, formatSchemaErrors, installErrorHandler } from './errors.js';
import { installInputGuard } from './input-guard.js';
import type { EventHub } from '../services/event-hub.js';
import { installAccessControl } from './access.js';
import { installValidators } from './validation.js';
import type { Authenticator } from '../auth/authenticator.js';
import { RateLimiter } from '../auth/rate-limit.js';
import { isLoopback } from '../../config/index.js';
import { registerEventRoutes } from './routes-events.js';
import { registerHealthRoutes } from './routes-health.js';
import { registerQueueRoutes } from './routes-queues.js';
import { registerScheduleRoutes } from './routes-schedules.js';
import { registerStatsRoutes } from './routes-stats.js';
import { registerSeedRoutes } from './routes-seed.js';
import { registerTaskRoutes } from './routes-tasks.js';
import { TasksApi } from '../services/tasks.js';
import { VERSION } from '../../lib/version.js';
import type { Metrics } from '../../observability/metrics.js';

/** Options for {@link buildHttpApi}. */
export interface HttpApiOptions {
  db: Db;
  logger: Logger;
  /** Which service this is, shown in the OpenAPI title. */
  service: 'coordinator' | 'scheduler';
  /** Maximum request body in bytes; larger bodies get 413. @default 1048576 */
  bodyLimit?: number;
  /** Live events for the SSE routes; the caller starts and stops it. */
  events: EventHub;
  auth: Authenticator;
  /** Default requests per second per caller; null: unlimited. */
  rateLimit: number | null;
  /** Queue-depth backpressure: submits to a queue with this many due tasks get 429. */
  maxQueueDepth: number | null;
  /** The host the server binds. */
  host: string;
  /** Served at /metrics; counts submits. */
  metrics: Metrics;
  /** /metrics needs no token even when tokens exist. @default false */
  publicMetrics?: boolean;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: string; key: string } | undefined;
}

/** A route as registered: what a caller may send it. */
export interface RouteInput {
  method: string;
  url: string;
  /** Its schemas (body, querystring, params), as validated. */
  schema: FastifySchema;
}

const routesOf = new WeakMap<FastifyInstance, RouteInput[]>();

/**
 * Every route of an app built by {@link buildHttpApi}, with the schemas its input is checked
 * against, as they were registered (the strict query schemas included): for tests and tools
 * that must cover every route, so a new one cannot be left out.
 */
export function routeInputs(app: FastifyInstance): readonly RouteInput[] {
  return routesOf.get(app) ?? [];
}

/**
 * The REST API that both HTTP services mount: seed routes, /v1, health, and OpenAPI at
 * /docs. Any process can answer the full API.
 */
export async function buildHttpApi(options: HttpApiOptions): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? 1048576;
  const app = Fastify({
    ...(options.tls ? { https: options.tls } : {}),
    loggerInstance: options.logger.child({ component: 'http' }) as FastifyBaseLogger,
    disableRequestLogging: true,
    bodyLimit,
    schemaErrorFormatter: formatSchemaErrors,
    clientErrorHandler: answerUnreadableRequest,
    frameworkErrors: answerBadUrl,
  }) as unknown as FastifyInstance;
  installErrorHandler(app, bodyLimit);
  installValidators(app);
  installInputGuard(app);
  const routes: RouteInput[] = [];
  routesOf.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat())
      routes.push({ method, url: route.url, schema: route.schema ?? {} });
  });
  installAccessControl(app, {
    auth: options.auth,
    limiter: new RateLimiter(options.rateLimit),
    loopbackOnly: isLoopback(options.host),
    publicMetrics: options.publicMetrics ?? false,
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'Create one with `taskq token create`.',
          },
        },
      },
      security: [{ bearer: [] }],
      info: {
        title: `Task Queue API (${options.service})`,
        version: VERSION,
        description:
          'Submit, inspect and cancel tasks. The same API is served by the coordinator and the scheduler.',
      },
      tags: [
        { name: 'tasks', description: 'The /v1 task API' },
        { name: 'events', description: 'Live status over Server-Sent Events' },
        { name: 'queues', description: 'Queue depth, settings, pause and resume' },
        { name: 'workers', description: 'Connected workers' },
        { name: 'schedules', description: 'Cron schedules' },
        { name: 'seed', description: 'The original /schedule and /status routes' },
        { name: 'health', description: 'Liveness and readiness' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const api = new TasksApi(options.db, {
    maxQueueDepth: options.maxQueueDepth,
    metrics: options.metrics,
    component: options.service,
  });
  const registry = options.metrics.registry;
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
  registerSeedRoutes(app, api);
  registerTaskRoutes(app, api, Math.max(bodyLimit, 32 * 1048576));
  registerEventRoutes(app, options.db, api, options.events, options.auth);
  registerQueueRoutes(app, options.db);
  registerScheduleRoutes(app, options.db, api);
  registerStatsRoutes(app, options.db);
  registerHealthRoutes(app, options.db);
  return app;
}

/**
 * A request Node's HTTP parser cannot read (a raw space or non-ASCII character in the URL,
 * oversized headers) never reaches a route: answer it in the API's error format.
 */
function answerUnreadableRequest(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const body = JSON.stringify({
    error: {
      code: tooLarge ? 'headers_too_large' : 'bad_request',
      message: tooLarge
        ? 'the request headers are too large'
        : 'the request could not be read: percent-encode spaces and non-ASCII characters in the URL',
    },
  });
  socket.end(
    `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
}
