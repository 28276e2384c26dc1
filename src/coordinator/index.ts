import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { accessTable, type RouteAccess } from '../api/rest/access.js';
import { Authenticator } from '../api/auth/authenticator.js';
import { EventHub } from '../api/services/event-hub.js';
import { authInterceptor, grpcContextValues } from '../api/grpc/auth.js';
import { registerDashboard } from '../api/rest/dashboard.js';
import { buildHttpApi } from '../api/rest/http.js';
import { registerTaskService } from '../api/grpc/task-service.js';
import { TasksApi } from '../api/services/tasks.js';
import {
  checkBinding,
  resolveCoordinatorOptions,
  type CoordinatorOptions,
  type ResolvedCoordinatorOptions,
} from '../config/index.js';
import type { CoordinatorMessage } from '../gen/taskqueue/v1/worker_pb.js';
import type { Channel } from '../lib/channel.js';
import { createDb, type Db } from '../store/db.js';
import { authEnabled } from '../store/tokens.js';
import { migrate } from '../store/migrate.js';
import { Listener } from '../store/notify.js';
import { cancelChannel, wakeChannel } from '../store/tasks.js';
import { Completer } from './completer.js';
import { Dispatcher } from './dispatcher.js';
import { registerWorkerService } from './gateway.js';
import { LeaderElector } from './leadership.js';
import { LeaseKeeper } from './leases.js';
import { Reaper } from './reaper.js';
import { Retention } from './retention.js';
import { Registry } from './registry.js';
import { Metrics, recordCompleted, recordReaped } from '../observability/metrics.js';
import { startSpan } from '../lib/trace.js';
import { useStrictUtf8 } from '../api/grpc/utf8.js';
import type { CompletedAttempt } from '../store/tasks.js';

/**
 * The coordinator: workers' gRPC streams, dispatch, completion, leases and the reaper, plus
 * the REST API on its own port. Stateless beyond its open streams; any number may run
 * against one database.
 */
export class Coordinator {
  readonly id = uuidv7();
  readonly options: ResolvedCoordinatorOptions;
  /** Prometheus metrics, served at /metrics; set once started. */
  metrics: Metrics | undefined;
  private readonly log: Logger;
  private db: Db | undefined;
  private http: FastifyInstance | undefined;
  private grpc: http2.Http2Server | http2.Http2SecureServer | undefined;
  private listener: Listener | undefined;
  private dispatcher: Dispatcher | undefined;
  private completer: Completer | undefined;
  private leases: LeaseKeeper | undefined;
  private reaper: Reaper | undefined;
  private retention: Retention | undefined;
  private events: EventHub | undefined;
  private leadership: LeaderElector | undefined;
  private auth: Authenticator | undefined;
  private readonly registry = new Registry();
  private readonly streams = new Set<Channel<CoordinatorMessage>>();
  private readonly h2Sessions = new Set<http2.ServerHttp2Session>();
  private stopping: Promise<void> | undefined;
  private ports = { grpc: 0, http: 0 };

  constructor(options: CoordinatorOptions & { logger?: Logger }) {
    this.options = resolveCoordinatorOptions(options);
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'coordinator' });
  }

  /** The bound gRPC port (useful with port 0). */
  get grpcPort(): number {
    return this.ports.grpc;
  }

  /** The bound REST port. */
  get httpPort(): number {
    return this.ports.http;
  }

  /** True while this coordinator leads maintenance (the reaper). */
  get isLeader(): boolean {
    return this.leadership?.current() !== null && this.leadership !== undefined;
  }

  /** Every REST route with the action it requires (the auth matrix tests walk it). */
  get httpRoutes(): readonly RouteAccess[] {
    return this.http ? accessTable(this.http) : [];
  }

  /** Number of connected worker streams. */
  get connectedWorkers(): number {
    return this.registry.size;
  }

  /** Migrates, then starts serving workers and clients. */
  async start(): Promise<void> {
    const o = this.options;
    const db = (this.db = createDb({
      url: o.databaseUrl,
      schema: o.schema,
      max: o.poolSize,
      applicationName: 'taskq-coordinator',
      logger: this.log,
    }));
    await migrate(db);
    checkBinding(o.host, o.insecure, await authEnabled(db));
    const auth = (this.auth = new Authenticator(db, {
      failureRate: o.rateLimit,
      logger: this.log,
    }));
    const metrics = (this.metrics = new Metrics('coordinator', db, this.log));
    metrics.start();
    metrics.probes.workers = () => this.registry.size;
    metrics.probes.leader = () => Boolean(this.leadership?.current());
    const tls =
      o.tlsCert && o.tlsKey
        ? { cert: readFileSync(o.tlsCert, 'utf8'), key: readFileSync(o.tlsKey, 'utf8') }
        : undefined;

    this.dispatcher = new Dispatcher(db, this.registry, {
      leaseMs: o.leaseMs,
      pollMs: o.pollMs,
      silentAfterMs: o.heartbeatMs * 2.5,
      logger: this.log,
      onDispatched: (tasks) => {
        const now = Date.now();
        for (const t of tasks)
          metrics.dispatchLatency.observe(
            { queue: metrics.labels.queue(t.queue) },
            Math.max(0, now - t.dueAt.getTime()) / 1000,
          );
      },
    });
    this.completer = new Completer(db, this.registry, {
      logger: this.log,
      onCompleted: (done) => {
        recordCompleted(metrics, done);
        traceCompleted(done);
        this.dispatcher?.finished(done.map((d) => d.queue));
        // Retries come back pending with a due time: arm the timer (or claim now if due).
        for (const d of done)
          if (d.status === 'pending') this.dispatcher?.dueSoon(d.scheduledAt.getTime());
      },
      onRefused: (kind, n) => metrics.reportsRefused.inc({ kind }, n),
    });
    this.leases = new LeaseKeeper(db, this.registry, {
      leaseMs: o.leaseMs,
      intervalMs: o.heartbeatMs,
      logger: this.log,
      onRefused: (n) => metrics.reportsRefused.inc({ kind: 'lease' }, n),
    });
    this.leadership = new LeaderElector(db, {
      role: 'maintenance',
      holder: this.id,
      ttlMs: o.leaderTtlMs,
      renewMs: o.leaderRenewMs,
      logger: this.log,
    });
    this.reaper = new Reaper(db, {
      intervalMs: o.reapIntervalMs,
      logger: this.log,
      leadership: this.leadership,
      onReaped: (t) => {
        recordReaped(metrics, t);
        for (const r of t)
          if (r.status === 'pending') this.dispatcher?.dueSoon(r.scheduledAt.getTime());
      },
    });

    if (o.retentionMs > 0) {
      this.retention = new Retention(db, {
        keepMs: o.retentionMs,
        intervalMs: o.retentionIntervalMs,
        logger: this.log,
        leadership: this.leadership,
        onDeleted: (n) => metrics.tasksDeleted.inc(n),
      });
    }

    if (o.listen) {
      this.listener = new Listener({
        url: o.databaseUrl,
        channels: [wakeChannel(db), cancelChannel(db)],
        logger: this.log,
        onConnect: () => this.dispatcher?.wake(),
        onNotification: (channel, payload) => this.onNotification(db, channel, payload),
      });
      this.listener.start();
    }

    const tasksApi = new TasksApi(db, {
      maxQueueDepth: o.maxQueueDepth ?? null,
      metrics,
      component: 'coordinator',
    });
    const events = (this.events = new EventHub(db, this.log));
    events.start();
    useStrictUtf8();
    const handler = connectNodeAdapter({
      interceptors: [authInterceptor(auth)],
      contextValues: grpcContextValues,
      routes: (router) => {
        registerWorkerService(router, {
          db,
          coordinatorId: this.id,
          registry: this.registry,
          dispatcher: this.dispatcher as Dispatcher,
          completer: this.completer as Completer,
          leases: this.leases as LeaseKeeper,
          heartbeatMs: o.heartbeatMs,
          leaseMs: o.leaseMs,
          logger: this.log,
          streams: this.streams,
          onHello: (info) => metrics.labels.add(info.queues, info.handlers),
        });
        registerTaskService(router, tasksApi, events);
      },
    });
    this.grpc = tls ? http2.createSecureServer(tls, handler) : http2.createServer({}, handler);
    this.grpc.on('session', (s) => {
      this.h2Sessions.add(s);
      s.once('close', () => this.h2Sessions.delete(s));
    });
    this.ports.grpc = await listen(this.grpc, o.grpcPort, o.host);

    this.http = await buildHttpApi({
      db,
      logger: this.log,
      service: 'coordinator',
      bodyLimit: o.bodyLimit,
      events,
      auth,
      rateLimit: o.rateLimit ?? null,
      maxQueueDepth: o.maxQueueDepth ?? null,
      host: o.host,
      tls,
      metrics,
      publicMetrics: o.publicMetrics,
    });
    await registerDashboard(this.http);
    await this.http.listen({ port: o.httpPort, host: o.host });
    const addr = this.http.server.address();
    this.ports.http = typeof addr === 'object' && addr ? addr.port : o.httpPort;

    this.leadership.start();
    this.dispatcher.start();
    this.leases.start();
    this.reaper.start();
    this.retention?.start();
    this.log.info(
      { grpcPort: this.ports.grpc, httpPort: this.ports.http, id: this.id },
      'coordinator started',
    );
  }

  private onNotification(db: Db, channel: string, payload: string): void {
    if (channel === wakeChannel(db)) {
      const dueMs = Number(payload.slice(0, payload.indexOf(':')));
      if (Number.isFinite(dueMs)) this.dispatcher?.dueSoon(dueMs);
      else this.dispatcher?.wake();
    } else if (channel === cancelChannel(db)) {
      const [taskId = '', attempt = '0'] = payload.split(':');
      const holder = this.registry.holderOf(taskId);
      if (holder) {
        holder.send({
          abort: [{ ref: { taskId, attempt: Number(attempt) }, reason: 'cancelled' }],
        });
        this.registry.release(taskId);
      }
    }
  }

  /**
   * Stops in order: no new streams, end worker streams (workers fail over and re-report),
   * write every result already received, then close the database pool. Calling it again
   * returns the same promise.
   */
  stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.stopping ??= this.doStop(opts.timeoutMs ?? 10_000);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<void> {
    this.log.info('coordinator stopping');
    await this.dispatcher?.stop();
    await this.reaper?.stop();
    await this.retention?.stop();
    await this.leadership?.stop();
    const grpcClosed = this.grpc
      ? new Promise<void>((r) => this.grpc?.close(() => r()))
      : Promise.resolve();
    for (const s of this.streams) s.close();
    // GOAWAY: open streams may finish, no new ones start; idle connections close at once.
    for (const s of this.h2Sessions) s.close();
    const forced = setTimeout(
      () => {
        for (const s of this.h2Sessions) s.destroy();
      },
      Math.min(timeoutMs, 2000),
    );
    await grpcClosed;
    clearTimeout(forced);
    await this.events?.stop();
    this.auth?.stop();
    await this.metrics?.stop();
    await this.http?.close();
    await this.leases?.stop();
    await this.completer?.stop();
    await this.listener?.stop();
    await this.db?.pool.end();
    this.log.info('coordinator stopped');
  }
}

function listen(
  server: http2.Http2Server | http2.Http2SecureServer,
  port: number,
  host: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** Records the completion of traced tasks, as children of their submit spans. */
function traceCompleted(done: CompletedAttempt[]): void {
  for (const d of done) {
    if (!d.traceContext) continue;
    startSpan(`taskq.complete ${d.handler}`, d.traceContext, {
      'taskq.component': 'coordinator',
      'taskq.task_id': d.id,
      'taskq.attempt': d.attempt,
      'taskq.status': d.status,
    }).end();
  }
}
