import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import { describeError } from '../lib/errors.js';
import { Periodic } from '../lib/periodic.js';
import type { Db } from '../store/db.js';
import { listQueues } from '../store/queues.js';
import { declaredLabelValues } from '../store/workers.js';

type TaskLabels = 'queue' | 'handler';

/** The label value every queue or handler outside the known set is counted under. */
export const OTHER_LABEL = 'other';
/** Most distinct queues, and most distinct handlers, /metrics names. */
const MAX_LABEL_VALUES = 1000;
/** How often the known set is re-read from the workers' declarations. */
const LABEL_REFRESH_MS = 10_000;

/**
 * The queue and handler names /metrics may use as label values: those that workers declared
 * in the last day (and queues with settings), at most {@link MAX_LABEL_VALUES} of each.
 * Everything else is counted as {@link OTHER_LABEL}, so submitting tasks with ever new
 * names cannot grow /metrics without bound.
 */
export class LabelValues {
  private queues = new Set<string>();
  private handlers = new Set<string>();

  /** Adds names (a worker's hello); beyond the cap, nothing more is added. */
  add(queues: Iterable<string>, handlers: Iterable<string>): void {
    for (const q of queues) if (this.queues.size < MAX_LABEL_VALUES) this.queues.add(q);
    for (const h of handlers) if (this.handlers.size < MAX_LABEL_VALUES) this.handlers.add(h);
  }

  /** Replaces the known set. */
  set(queues: Iterable<string>, handlers: Iterable<string>): void {
    this.queues = new Set();
    this.handlers = new Set();
    this.add(queues, handlers);
  }

  queue(name: string): string {
    return this.queues.has(name) ? name : OTHER_LABEL;
  }

  task(labels: { queue: string; handler: string }): { queue: string; handler: string } {
    return {
      queue: this.queue(labels.queue),
      handler: this.handlers.has(labels.handler) ? labels.handler : OTHER_LABEL,
    };
  }
}

/** A counter by queue and handler whose label values stay in a {@link LabelValues} set. */
export class TaskCounter<L extends string = never> {
  constructor(
    private readonly counter: Counter<TaskLabels | L>,
    private readonly labels: LabelValues,
  ) {}

  inc(labels: { queue: string; handler: string } & Partial<Record<L, string>>, n = 1): void {
    const bounded = { ...labels, ...this.labels.task(labels) };
    this.counter.inc(bounded as Partial<Record<TaskLabels | L, string>>, n);
  }

  /** The underlying prom-client counter, for reading values in tests. */
  get metric(): Counter<TaskLabels | L> {
    return this.counter;
  }
}

/**
 * The Prometheus metrics of one service. Each service has its own registry (several can share
 * a process, as in `taskq dev`), exposed at `/metrics`. Counters count what this process did;
 * Prometheus sums them across processes. Queue depth is read from the database at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly labels = new LabelValues();
  readonly submitted: TaskCounter;
  readonly succeeded: TaskCounter;
  readonly attemptsFailed: TaskCounter<'reason'>;
  readonly retried: TaskCounter;
  readonly dead: TaskCounter;
  readonly dispatchLatency: Histogram<'queue'>;
  readonly runDuration: Histogram<TaskLabels>;
  /** Worker reports the fence refused, by kind: result, start, progress or lease. */
  readonly reportsRefused: Counter<'kind'>;
  readonly leasesReaped: Counter;
  readonly tasksDeleted: Counter;
  readonly workersConnected: Gauge;
  readonly leader: Gauge;
  /** Read at scrape time by the gauges that describe live state of the owning service. */
  readonly probes: { workers?: () => number; leader?: () => boolean } = {};

  private readonly refresh: Periodic;

  constructor(
    service: 'coordinator' | 'scheduler',
    private readonly db: Db,
    logger?: Logger,
  ) {
    const registry = this.registry;
    registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: registry, prefix: 'taskq_' });
    this.refresh = new Periodic(LABEL_REFRESH_MS, async () => {
      try {
        const known = await declaredLabelValues(db, MAX_LABEL_VALUES);
        this.labels.set(known.queues, known.handlers);
      } catch (err) {
        logger?.warn({ err: describeError(err) }, 'reading the metric label values failed');
      }
    });
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new TaskCounter<Exclude<L, TaskLabels>>(
        new Counter<L>({ name, help, labelNames, registers: [registry] }) as Counter<
          TaskLabels | Exclude<L, TaskLabels>
        >,
        this.labels,
      );
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
    this.reportsRefused = new Counter({
      name: 'taskq_worker_reports_refused_total',
      help: 'Worker reports the fence refused: a stale attempt (a zombie), or one the reporting worker does not hold.',
      labelNames: ['kind'],
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
    // Depth is shared state: read it once per scrape, from the partial indexes. Queues
    // outside the known label values are summed under 'other'.
    const labels = this.labels;
    let depth: Promise<Map<string, QueueDepth>> | null = null;
    const readDepth = () =>
      (depth ??= listQueues(db)
        .then((queues) => depthByLabel(queues, labels))
        .catch(() => new Map<string, QueueDepth>())
        .finally(() => setTimeout(() => (depth = null), 500)));
    new Gauge({
      name: 'taskq_queue_depth',
      help: 'Tasks per queue and state (due, scheduled, running, dead).',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const [queue, q] of await readDepth()) {
          for (const state of DEPTH_STATES) this.set({ queue, state }, q[state]);
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
        for (const [queue, q] of await readDepth()) this.set({ queue }, q.oldestDueAgeMs / 1000);
      },
    });
  }

  /** Starts keeping the label values current. */
  start(): void {
    this.refresh.start();
  }

  async stop(): Promise<void> {
    await this.refresh.stop();
  }
}

const DEPTH_STATES = ['due', 'scheduled', 'running', 'dead'] as const;
type QueueDepth = Record<(typeof DEPTH_STATES)[number] | 'oldestDueAgeMs', number>;

function depthByLabel(
  queues: Array<
    Record<(typeof DEPTH_STATES)[number], number> & { name: string; oldestDueAgeMs: number | null }
  >,
  labels: LabelValues,
): Map<string, QueueDepth> {
  const out = new Map<string, QueueDepth>();
  for (const q of queues) {
    const key = labels.queue(q.name);
    const d = out.get(key) ?? { due: 0, scheduled: 0, running: 0, dead: 0, oldestDueAgeMs: 0 };
    for (const state of DEPTH_STATES) d[state] += q[state];
    d.oldestDueAgeMs = Math.max(d.oldestDueAgeMs, q.oldestDueAgeMs ?? 0);
    out.set(key, d);
  }
  return out;
}

/** Counts finished attempts: successes, failures (and whether they retry or are dead), run time. */
export function recordCompleted(
  m: Metrics,
  done: Array<{
    status: string;
    queue: string;
    handler: string;
    startedAtMs: number | null;
    failure: string | null;
  }>,
): void {
  const now = Date.now();
  for (const d of done) {
    const labels = { queue: d.queue, handler: d.handler };
    if (d.startedAtMs !== null)
      m.runDuration.observe(m.labels.task(labels), Math.max(0, now - d.startedAtMs) / 1000);
    if (d.status === 'succeeded') {
      m.succeeded.inc(labels);
      continue;
    }
    // Handed its work to children (ctx.waitFor): neither a success nor a failure yet.
    if (d.status === 'waiting' || (d.status === 'pending' && d.failure === null)) continue;
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
