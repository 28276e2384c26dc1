import type { Duplex } from 'node:stream';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifySchema, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Db } from '../../store/db.js';
import { answerBadUrl, formatSchemaErrors, installErrorHandler } from './errors.js';
import { installInputGuard } from './input-guard.js';
import { installAccessControl } from './access.js';
import { installValidators } from './validation.js';
import type { Action } from '../auth/authenticator.js';
import type { ApiServices } from '../index.js';
import { RateLimiter } from '../auth/rate-limit.js';
import { isLoopback } from '../../config/index.js';
import { registerEventRoutes } from './routes-events.js';
import { registerHealthRoutes } from './routes-health.js';
import { registerQueueRoutes } from './routes-queues.js';
import { registerScheduleRoutes } from './routes-schedules.js';
import { registerStatsRoutes } from './routes-stats.js';
import { registerSeedRoutes } from './routes-seed.js';
import { registerTaskRoutes } from './routes-tasks.js';
import { registerWorkflowRoutes } from './routes-workflows.js';
import { VERSION } from '../../lib/version.js';
import type { Metrics } from '../../observability/metrics.js';

/** Options for {@link buildHttpApi}. */
export interface HttpApiOptions {
  /** For readiness (/readyz pings it). */
  db: Db;
  logger: Logger;
  /** Which service this is, shown in the OpenAPI title. */
  service: 'coordinator' | 'scheduler';
  /** The process's services; the caller starts and stops them. */
  services: ApiServices;
  /** Maximum request body in bytes; larger bodies get 413. @default 1048576 */
  bodyLimit?: number;
  /** Default requests per second per caller; null: unlimited. */
  rateLimit: number | null;
  /** The host the server binds. */
  host: string;
  /** Served at /metrics. */
  metrics: Metrics;
  /** /metrics needs no token even when tokens exist. @default false */
  publicMetrics?: boolean;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: string; key: string } | undefined;
}

/** A route as registered: what a caller may send it, and what it must be allowed to do. */
export interface RouteEntry {
  method: string;
  url: string;
  /** Its schemas (body, querystring, params), as validated (strict query schemas included). */
  schema: FastifySchema;
  /** The action a caller's role must grant; null for a public route (health, docs, files). */
  action: Action | null;
}

const tables = new WeakMap<FastifyInstance, RouteEntry[]>();

/**
 * Every route of an app built by {@link buildHttpApi}, as registered: for tests and tools
 * that must cover every route (the auth matrix, the input fuzz), so a new one cannot be left
 * out.
 */
export function routeTable(app: FastifyInstance): readonly RouteEntry[] {
  return tables.get(app) ?? [];
}

/**
 * The REST API that both HTTP services mount: seed routes, /v1, health, and OpenAPI at
 * /docs. Any process can answer the full API.
 */
export async function buildHttpApi(options: HttpApiOptions): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? 1048576;
  const app = Fastify({
    ...(options.tls ? { https: options.tls } : {}),
    loggerInstance: options.logger.child({ component: 'http' }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    schemaErrorFormatter: formatSchemaErrors,
    clientErrorHandler: answerUnreadableRequest,
    frameworkErrors: answerBadUrl,
  }) as unknown as FastifyInstance;
  installErrorHandler(app, bodyLimit);
  installValidators(app);
  installInputGuard(app);
  installAccessControl(app, {
    auth: options.services.auth,
    limiter: new RateLimiter(options.rateLimit),
    loopbackOnly: isLoopback(options.host),
    publicMetrics: options.publicMetrics ?? false,
  });
  // After access control, which sets each route's action.
  const table: RouteEntry[] = [];
  tables.set(app, table);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat())
      table.push({
        method,
        url: route.url,
        schema: route.schema ?? {},
        action: route.config?.action ?? null,
      });
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
        { name: 'workflows', description: 'Tasks that depend on tasks' },
        { name: 'seed', description: 'The original /schedule and /status routes' },
        { name: 'health', description: 'Liveness and readiness' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const registry = options.metrics.registry;
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
  const { tasks, bulk, events, auth, queues, schedules, stats, workflows } = options.services;
  registerSeedRoutes(app, tasks);
  registerTaskRoutes(app, tasks, bulk, Math.max(bodyLimit, 32 * 1048576));
  registerEventRoutes(app, tasks, workflows, events, auth);
  registerQueueRoutes(app, queues);
  registerScheduleRoutes(app, schedules);
  registerStatsRoutes(app, stats);
  registerWorkflowRoutes(app, workflows, Math.max(bodyLimit, 32 * 1048576));
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
