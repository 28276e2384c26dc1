import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../store/db.js';
import { listQueues } from '../store/queues.js';

type TaskLabels = 'queue' | 'handler';

/**
 * The Prometheus metrics of one service. Each service has its own registry (several can share
 * a process, as in `taskq dev`), exposed at `/metrics`. Counters count what this process did;
 * Prometheus sums them across processes. Queue depth is read from the database at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly submitted: Counter<TaskLabels>;
  readonly succeeded: Counter<TaskLabels>;
  readonly attemptsFailed: Counter<TaskLabels | 'reason'>;
  readonly retried: Counter<TaskLabels>;
  readonly dead: Counter<TaskLabels>;
  readonly dispatchLatency: Histogram<'queue'>;
  readonly runDuration: Histogram<TaskLabels>;
  readonly staleResults: Counter;
  readonly leasesReaped: Counter;
  readonly tasksDeleted: Counter;
  readonly workersConnected: Gauge;
  readonly leader: Gauge;
  /** Read at scrape time by the gauges that describe live state of the owning service. */
  readonly probes: { workers?: () => number; leader?: () => boolean } = {};

  constructor(service: 'coordinator' | 'scheduler', db: Db) {
    const registry = this.registry;
    registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: registry, prefix: 'taskq_' });
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name, help, labelNames, registers: [registry] });
    const taskLabels: TaskLabels[] = ['queue', 'handler'];
    this.submitted = counter(
      'taskq_tasks_submitted_total',
      'Tasks stored by this process (REST, gRPC, cron).',
      taskLabels,
    );
    this.succeeded = counter('taskq_tasks_succeeded_total', 'Tasks that succeeded.', taskLabels);
    this.attemptsFailed = counter(
      'taskq_task_attempts_failed_total',
      'Attempts that failed (error, timeout, lease expired).',
      [...taskLabels, 'reason'],
    );
    this.retried = counter(
      'taskq_tasks_retried_total',
      'Failed attempts that will be retried.',
      taskLabels,
    );
    this.dead = counter(
      'taskq_tasks_dead_total',
      'Tasks that ran out of attempts (or failed for good).',
      taskLabels,
    );
    this.dispatchLatency = new Histogram({
      name: 'taskq_dispatch_latency_seconds',
      help: 'From due (run_at) to handed to a worker.',
      labelNames: ['queue'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
    this.runDuration = new Histogram({
      name: 'taskq_task_run_duration_seconds',
      help: 'Handler run time of finished attempts.',
      labelNames: taskLabels,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
      registers: [registry],
    });
    this.staleResults = new Counter({
      name: 'taskq_stale_results_rejected_total',
      help: 'Results fenced out because their attempt was no longer current (zombie workers).',
      registers: [registry],
    });
    this.tasksDeleted = new Counter({
      name: 'taskq_tasks_deleted_total',
      help: 'Finished tasks deleted by retention, with their attempts.',
      registers: [registry],
    });
    this.leasesReaped = new Counter({
      name: 'taskq_leases_reaped_total',
      help: 'Tasks taken back from silent workers.',
      registers: [registry],
    });
    const probes = this.probes;
    this.workersConnected = new Gauge({
      name: 'taskq_workers_connected',
      help: 'Worker streams open on this process.',
      registers: [registry],
      collect() {
        if (probes.workers) this.set(probes.workers());
      },
    });
    this.leader = new Gauge({
      name: 'taskq_leader',
      help: '1 while this process leads maintenance (the reaper).',
      registers: [registry],
      collect() {
        if (probes.leader) this.set(probes.leader() ? 1 : 0);
      },
    });

    const pool = db.pool;
    new Gauge({
      name: 'taskq_db_pool_connections',
      help: 'Database pool connections by state.',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        this.set({ state: 'total' }, pool.totalCount);
        this.set({ state: 'idle' }, pool.idleCount);
        this.set({ state: 'waiting' }, pool.waitingCount);
      },
    });
    // Depth is shared state: read it once per scrape, from the partial indexes.
    let depth: Promise<Awaited<ReturnType<typeof listQueues>>> | null = null;
    const readDepth = () =>
      (depth ??= listQueues(db).finally(() => setTimeout(() => (depth = null), 500)));
    new Gauge({
      name: 'taskq_queue_depth',
      help: 'Tasks per queue and state (due, scheduled, running, dead).',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const q of await readDepth().catch(() => [])) {
          for (const state of ['due', 'scheduled', 'running', 'dead'] as const)
            this.set({ queue: q.name, state }, q[state]);
        }
      },
    });
    new Gauge({
      name: 'taskq_queue_oldest_due_age_seconds',
      help: 'How long the oldest due task of each queue has waited.',
      labelNames: ['queue'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const q of await readDepth().catch(() => []))
          this.set({ queue: q.name }, (q.oldestDueAgeMs ?? 0) / 1000);
      },
    });
  }
}

/** Counts finished attempts: successes, failures (and whether they retry or are dead), run time. */
export function recordCompleted(
  m: Metrics,
  done: Array<{
    status: string;
    queue: string;
    handler: string;
    startedAt: Date | null;
    failure: string | null;
  }>,
): void {
  const now = Date.now();
  for (const d of done) {
    const labels = { queue: d.queue, handler: d.handler };
    if (d.startedAt) m.runDuration.observe(labels, Math.max(0, now - d.startedAt.getTime()) / 1000);
    if (d.status === 'succeeded') {
      m.succeeded.inc(labels);
      continue;
    }
    m.attemptsFailed.inc({ ...labels, reason: d.failure ?? 'error' });
    if (d.status === 'pending') m.retried.inc(labels);
    else if (d.status === 'dead') m.dead.inc(labels);
  }
}

/** Counts attempts taken back from silent workers. */
export function recordReaped(
  m: Metrics,
  reaped: Array<{ status: string; queue: string; handler: string }>,
): void {
  m.leasesReaped.inc(reaped.length);
  for (const r of reaped) {
    const labels = { queue: r.queue, handler: r.handler };
    m.attemptsFailed.inc({ ...labels, reason: 'lease_expired' });
    if (r.status === 'pending') m.retried.inc(labels);
    else if (r.status === 'dead') m.dead.inc(labels);
  }
}
