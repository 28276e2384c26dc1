import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { createApiServices, type ApiServices } from '../api/index.js';
import { registerQueueService } from '../api/grpc/queue-service.js';
import { registerTaskService } from '../api/grpc/task-service.js';
import { registerDashboard } from '../api/rest/dashboard.js';
import { buildHttpApi, routeTable, type RouteEntry } from '../api/rest/http.js';
import {
  checkBinding,
  loadTls,
  resolveCoordinatorOptions,
  type CoordinatorOptions,
  type ResolvedCoordinatorOptions,
} from '../config/index.js';
import type { CoordinatorMessage } from '../gen/taskqueue/v1/worker_pb.js';
import type { Channel } from '../lib/channel.js';
import { startSpan } from '../lib/trace.js';
import { Metrics, recordCompleted, recordReaped } from '../observability/metrics.js';
import { createDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { Listener } from '../store/notify.js';
import { cancelChannel, parseCancel, parseWake, wakeChannel } from '../store/channels.js';
import type { CompletedAttempt } from '../store/types.js';
import { authEnabled } from '../store/tokens.js';
import { Completer } from './completer.js';
import { Dispatcher } from './dispatcher.js';
import { registerWorkerService } from './gateway.js';
import { GrpcServer } from './grpc-server.js';
import { LeaderElector } from './leadership.js';
import { LeaseKeeper } from './lease-keeper.js';
import { Reaper } from './reaper.js';
import { Registry } from './registry.js';
import { Retention } from './retention.js';
import { silentAfterMs, STREAM_CLOSE_GRACE_MS } from './timings.js';

/** The parts a running coordinator is made of, built by {@link Coordinator.start}. */
interface Parts {
  db: Db;
  metrics: Metrics;
  services: ApiServices;
  dispatcher: Dispatcher;
  completer: Completer;
  leases: LeaseKeeper;
  leadership: LeaderElector;
  reaper: Reaper;
  retention: Retention | undefined;
  listener: Listener | undefined;
  grpc: GrpcServer;
  http: FastifyInstance;
}

/**
 * The coordinator: workers' gRPC streams, dispatch, completion, leases and the reaper, plus
 * the REST API on its own port. Stateless beyond its open streams; any number may run
 * against one database.
 */
export class Coordinator {
  readonly id = uuidv7();
  readonly options: ResolvedCoordinatorOptions;
  private readonly log: Logger;
  private readonly registry = new Registry();
  private readonly streams = new Set<Channel<CoordinatorMessage>>();
  private parts: Parts | undefined;
  private stopping: Promise<void> | undefined;
  private ports = { grpc: 0, http: 0 };

  constructor(options: CoordinatorOptions & { logger?: Logger }) {
    this.options = resolveCoordinatorOptions(options);
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'coordinator' });
  }

  /** Prometheus metrics, served at /metrics; set once started. */
  get metrics(): Metrics | undefined {
    return this.parts?.metrics;
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
    return this.parts?.leadership.current() != null;
  }

  /** Every REST route with the action it requires (the auth matrix tests walk it). */
  get httpRoutes(): readonly RouteEntry[] {
    return this.parts ? routeTable(this.parts.http) : [];
  }

  /** Number of connected worker streams. */
  get connectedWorkers(): number {
    return this.registry.size;
  }

  /** Migrates, then starts serving workers and clients. */
  async start(): Promise<void> {
    const o = this.options;
    const db = createDb({
      url: o.databaseUrl,
      schema: o.schema,
      max: o.poolSize,
      applicationName: 'taskq-coordinator',
      logger: this.log,
    });
    await migrate(db);
    checkBinding(o.host, o.insecure, await authEnabled(db));
    const tls = loadTls(o);
    const metrics = new Metrics('coordinator', db, this.log);
    const services = createApiServices(db, {
      logger: this.log,
      component: 'coordinator',
      metrics,
      maxQueueDepth: o.maxQueueDepth ?? null,
      rateLimit: o.rateLimit ?? null,
    });
    const core = this.buildCore(db, metrics);
    const grpc = new GrpcServer({
      auth: services.auth,
      tls,
      routes: (router) => {
        registerWorkerService(router, {
          db,
          coordinatorId: this.id,
          registry: this.registry,
          dispatcher: core.dispatcher,
          completer: core.completer,
          leases: core.leases,
          heartbeatMs: o.heartbeatMs,
          leaseMs: o.leaseMs,
          logger: this.log,
          streams: this.streams,
          onHello: (info) => metrics.labels.add(info.queues, info.handlers),
        });
        registerTaskService(router, services.tasks, services.workflows, services.events);
        registerQueueService(router, services.queues);
      },
    });
    const http = await buildHttpApi({
      db,
      logger: this.log,
      service: 'coordinator',
      services,
      bodyLimit: o.bodyLimit,
      rateLimit: o.rateLimit ?? null,
      host: o.host,
      tls,
      metrics,
      publicMetrics: o.publicMetrics,
    });
    await registerDashboard(http);
    const listener = o.listen
      ? new Listener({
          url: o.databaseUrl,
          channels: [wakeChannel(db), cancelChannel(db)],
          logger: this.log,
          onConnect: () => core.dispatcher.wake(),
          onNotification: (channel, payload) => this.onNotification(db, channel, payload),
        })
      : undefined;
    this.parts = { db, metrics, services, grpc, http, listener, ...core };

    metrics.probes.workers = () => this.registry.size;
    metrics.probes.leader = () => core.leadership.current() !== null;
    metrics.start();
    services.start();
    listener?.start();
    this.ports.grpc = await grpc.listen(o.grpcPort, o.host);
    await http.listen({ port: o.httpPort, host: o.host });
    const addr = http.server.address();
    this.ports.http = typeof addr === 'object' && addr ? addr.port : o.httpPort;
    core.leadership.start();
    core.completer.start();
    core.dispatcher.start();
    core.leases.start();
    core.reaper.start();
    core.retention?.start();
    this.log.info(
      { grpcPort: this.ports.grpc, httpPort: this.ports.http, id: this.id },
      'coordinator started',
    );
  }

  /** Dispatch, completion, leases and maintenance, wired to each other and to the metrics. */
  private buildCore(db: Db, metrics: Metrics) {
    const o = this.options;
    const dispatcher = new Dispatcher(db, this.registry, {
      leaseMs: o.leaseMs,
      pollMs: o.pollMs,
      silentAfterMs: silentAfterMs(o.heartbeatMs),
      logger: this.log,
      onDispatched: (tasks) => {
        const now = Date.now();
        for (const t of tasks)
          metrics.dispatchLatency.observe(
            { queue: metrics.labels.queue(t.queue) },
            Math.max(0, now - t.dueAtMs) / 1000,
          );
      },
    });
    const completer = new Completer(db, this.registry, {
      logger: this.log,
      onCompleted: (done) => {
        recordCompleted(metrics, done);
        traceCompleted(done);
        dispatcher.finished(done.map((d) => d.queue));
        // Retries come back pending with a due time: arm the timer (or claim now if due).
        for (const d of done) if (d.status === 'pending') dispatcher.dueSoon(d.scheduledAtMs);
      },
      onRefused: (kind, n) => metrics.reportsRefused.inc({ kind }, n),
    });
    const leases = new LeaseKeeper(db, this.registry, {
      leaseMs: o.leaseMs,
      intervalMs: o.heartbeatMs,
      logger: this.log,
      onRefused: (n) => metrics.reportsRefused.inc({ kind: 'lease' }, n),
    });
    const leadership = new LeaderElector(db, {
      role: 'maintenance',
      holder: this.id,
      ttlMs: o.leaderTtlMs,
      renewMs: o.leaderRenewMs,
      logger: this.log,
    });
    const reaper = new Reaper(db, {
      intervalMs: o.reapIntervalMs,
      logger: this.log,
      leadership,
      onReaped: (t) => {
        recordReaped(metrics, t);
        for (const r of t) if (r.status === 'pending') dispatcher.dueSoon(r.scheduledAt.getTime());
      },
    });
    const retention =
      o.retentionMs > 0
        ? new Retention(db, {
            keepMs: o.retentionMs,
            intervalMs: o.retentionIntervalMs,
            logger: this.log,
            leadership,
            onDeleted: (n) => metrics.tasksDeleted.inc(n),
          })
        : undefined;
    return { dispatcher, completer, leases, leadership, reaper, retention };
  }

  private onNotification(db: Db, channel: string, payload: string): void {
    const dispatcher = this.parts?.dispatcher;
    if (channel === wakeChannel(db)) {
      const { dueMs } = parseWake(payload);
      if (dueMs !== null) dispatcher?.dueSoon(dueMs);
      else dispatcher?.wake();
    } else if (channel === cancelChannel(db)) {
      const ref = parseCancel(payload);
      const holder = ref && this.registry.holderOf(ref.taskId);
      if (ref && holder) {
        holder.send({ abort: [{ ref, reason: 'cancelled' }] });
        this.registry.release(ref.taskId);
      }
    }
  }

  /**
   * Stops in order: no new claims or maintenance, end worker streams (workers fail over and
   * re-report), write every result already received, then close the database pool. Calling
   * it again returns the same promise.
   */
  stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.stopping ??= this.doStop(opts.timeoutMs ?? 10_000);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<void> {
    const p = this.parts;
    this.log.info('coordinator stopping');
    if (p) {
      await p.dispatcher.stop();
      await p.reaper.stop();
      await p.retention?.stop();
      await p.leadership.stop();
      for (const s of this.streams) s.close();
      await p.grpc.close(Math.min(timeoutMs, STREAM_CLOSE_GRACE_MS));
      await p.services.stop();
      await p.metrics.stop();
      await p.http.close();
      await p.leases.stop();
      await p.completer.stop();
      await p.listener?.stop();
      await p.db.pool.end();
    }
    this.log.info('coordinator stopped');
  }
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
