import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { createApiServices, type ApiServices } from '../api/index.js';
import { buildHttpApi } from '../api/rest/http.js';
import {
  checkBinding,
  loadTls,
  resolveSchedulerOptions,
  type ResolvedSchedulerOptions,
  type SchedulerOptions,
} from '../config/index.js';
import { createDb, type Db } from '../store/db.js';
import { CronTicker } from './ticker.js';
import { Metrics } from '../observability/metrics.js';
import { authEnabled } from '../store/tokens.js';
import { migrate } from '../store/migrate.js';

/**
 * The scheduler: the REST API (the seed's /schedule and /status, and /v1) on its own port,
 * storing tasks in PostgreSQL for coordinators to claim, and the cron ticker that turns
 * schedules into tasks. Several may run: each cron tick still fires once.
 */
export class Scheduler {
  readonly options: ResolvedSchedulerOptions;
  private readonly log: Logger;
  private db: Db | undefined;
  private http: FastifyInstance | undefined;
  private services: ApiServices | undefined;
  private metrics: Metrics | undefined;
  private ticker: CronTicker | undefined;
  private stopping: Promise<void> | undefined;
  private port = 0;

  constructor(options: SchedulerOptions & { logger?: Logger }) {
    this.options = resolveSchedulerOptions(options);
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'scheduler' });
  }

  /** The bound REST port. */
  get httpPort(): number {
    return this.port;
  }

  async start(): Promise<void> {
    const o = this.options;
    const db = (this.db = createDb({
      url: o.databaseUrl,
      schema: o.schema,
      max: o.poolSize,
      applicationName: 'taskq-scheduler',
      logger: this.log,
    }));
    await migrate(db);
    checkBinding(o.host, o.insecure, await authEnabled(db));
    const tls = loadTls(o);
    const metrics = (this.metrics = new Metrics('scheduler', db, this.log));
    const services = (this.services = createApiServices(db, {
      logger: this.log,
      component: 'scheduler',
      metrics,
      maxQueueDepth: o.maxQueueDepth ?? null,
      rateLimit: o.rateLimit ?? null,
    }));
    this.http = await buildHttpApi({
      db,
      logger: this.log,
      service: 'scheduler',
      services,
      bodyLimit: o.bodyLimit,
      rateLimit: o.rateLimit ?? null,
      host: o.host,
      metrics,
      publicMetrics: o.publicMetrics,
      tls,
    });
    metrics.start();
    services.start();
    await this.http.listen({ port: o.httpPort, host: o.host });
    const addr = this.http.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : o.httpPort;
    if (o.cron) {
      this.ticker = new CronTicker(db, { logger: this.log });
      this.ticker.start();
    }
    this.log.info({ httpPort: this.port }, 'scheduler started');
  }

  /** Stops taking requests, finishes those in flight, closes the pool. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.ticker?.stop();
      await this.services?.stop();
      await this.metrics?.stop();
      await this.http?.close();
      await this.db?.pool.end();
      this.log.info('scheduler stopped');
    })();
    return this.stopping;
  }
}
