import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.js';
import type { Db } from '../store/db.js';
import { Authenticator } from './auth/authenticator.js';
import { BulkActionsApi } from './services/bulk.js';
import { EventHub } from './services/event-hub.js';
import { QueuesApi } from './services/queues.js';
import { SchedulesApi } from './services/schedules.js';
import { StatsApi } from './services/stats.js';
import { TasksApi } from './services/tasks.js';
import { WorkflowsApi } from './services/workflows.js';

/**
 * The services of one process, one instance each, shared by its REST and gRPC edges: two
 * copies of the task service would keep two insert batchers and two depth limits.
 */
export interface ApiServices {
  tasks: TasksApi;
  bulk: BulkActionsApi;
  schedules: SchedulesApi;
  queues: QueuesApi;
  stats: StatsApi;
  workflows: WorkflowsApi;
  events: EventHub;
  auth: Authenticator;
  /** Starts what runs in the background (the event hub's LISTEN connection). */
  start(): void;
  /** Stops it again: open event streams end, token checks stop. */
  stop(): Promise<void>;
}

/** Options for {@link createApiServices}. */
export interface ApiServicesOptions {
  logger: Logger;
  /** Which process this is, on the spans the task service records. */
  component: 'coordinator' | 'scheduler';
  /** Counts submits. */
  metrics: Metrics;
  /** Submits to a queue holding this many due tasks get 429; null: unlimited. */
  maxQueueDepth: number | null;
  /** Requests per second per caller; also the failed-login limit per address. null: default. */
  rateLimit: number | null;
}

/** Builds the services of one process. */
export function createApiServices(db: Db, o: ApiServicesOptions): ApiServices {
  const tasks = new TasksApi(db, {
    maxQueueDepth: o.maxQueueDepth,
    metrics: o.metrics,
    component: o.component,
  });
  const events = new EventHub(db, o.logger);
  const auth = new Authenticator(db, {
    ...(o.rateLimit !== null ? { failureRate: o.rateLimit } : {}),
    logger: o.logger,
  });
  const workflows = new WorkflowsApi(db);
  return {
    tasks,
    bulk: new BulkActionsApi(db),
    schedules: new SchedulesApi(db, tasks, workflows),
    queues: new QueuesApi(db),
    stats: new StatsApi(db),
    workflows,
    events,
    auth,
    start: () => events.start(),
    stop: async () => {
      auth.stop();
      await events.stop();
    },
  };
}
