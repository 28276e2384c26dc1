import type { SystemName } from '../lib/options.js';
import type { DrainVariant } from './types.js';

/** The scenarios that measure a feature not every system has. */
export type FeatureScenario = 'fanout' | 'dag' | 'routing' | 'ratelimit' | 'groups';

/** How a system offers a feature as the bench runs it, or why it is not offered. */
export type FeatureSupport =
  | { offered: true; how: string; source: string }
  | { offered: false; why: string };

/**
 * Routing: every task of the drain requires this label, and every worker has it
 * (`requires` on the task, `taskq worker --label region=eu`).
 */
export const ROUTE_LABEL = { region: 'eu' } as const;

/**
 * Rate limit: at most this many starts per period, far above any drain's rate on this
 * machine, so that it never holds a task back and the figure is the limit's bookkeeping
 * alone. Ours: the queue's `rate_limit` ({count, period_ms}); BullMQ: the worker's
 * `limiter` ({max, duration}), which every worker of the queue shares.
 */
export const RATE_LIMIT = { count: 1_000_000, periodMs: 1000 } as const;

/** Fair share: the drain's tasks are spread round robin over this many groups of one queue. */
export const GROUPS = 100;

/**
 * pg-boss's flow resolver interval for the DAG scenario: the smallest it accepts (its
 * default is 5 s). Completing a job does not unblock its dependents; this poll does.
 */
export const PGBOSS_FLOW_INTERVAL_SECONDS = 1;

/** What each drain variant sets, in words, for the results. */
export const VARIANT_SETTINGS: Record<DrainVariant, string> = {
  plain: 'no-op tasks, as in the drain',
  routed: `every task requires ${JSON.stringify(ROUTE_LABEL)}; every worker has the label`,
  ratelimited: `a rate limit of ${RATE_LIMIT.count.toLocaleString('en-US')} starts per ${RATE_LIMIT.periodMs} ms on the queue, far above the drain's rate`,
  grouped: `tasks spread round robin over ${GROUPS} groups of one queue, claimed in fair share`,
};

/** The variant each feature scenario drains against the plain drain. */
export const FEATURE_VARIANT = {
  routing: 'routed',
  ratelimit: 'ratelimited',
  groups: 'grouped',
} as const satisfies Record<string, Exclude<DrainVariant, 'plain'>>;

const TASKQ_DOCS = 'docs/workflows.md, docs/api.md';
const TASKQ_LIMITS_DOCS = 'docs/api.md, "Routing, rate limits and fair share"';

const notOffered = (why: string): FeatureSupport => ({ offered: false, why });

const GRAPHILE_NONE = {
  fanout: notOffered('no parent/child jobs: a job cannot wait for jobs it adds'),
  dag: notOffered('no job dependencies'),
  routing: notOffered(
    'no worker labels: a worker takes the task identifiers it has handlers for (and named queues run serially)',
  ),
  ratelimit: notOffered(
    'no limit on starts per period: its maintainers advise rate limiting inside the task (graphile/worker#118)',
  ),
  groups: notOffered(
    'no fair share: jobs are taken by priority and run_at; a named queue (job_queue_name) runs its jobs one at a time',
  ),
};

const BULLMQ = {
  fanout: {
    offered: true,
    how:
      'the parent adds its children with `parent: { id, queue }` in one addBulk, then ' +
      '`moveToWaitingChildren(token)` and throws WaitingChildrenError; resumed, it reads ' +
      '`getChildrenValues()`',
    source: 'docs guide/flows and patterns/process-step-jobs ("Waiting Children")',
  },
  dag: notOffered(
    'a flow is a tree (FlowProducer: each job has one parent), so N nodes cannot share one root; its parent-waits-for-children runs in the fan-out scenario',
  ),
  routing: notOffered('no worker labels: routing is by queue name'),
  ratelimit: {
    offered: true,
    how: `each worker's \`limiter: { max: ${RATE_LIMIT.count}, duration: ${RATE_LIMIT.periodMs} }\`, one limit for the queue across its workers`,
    source: 'docs guide/rate-limiting',
  },
  groups: notOffered(
    'groups (fair share across groups of one queue) are in BullMQ Pro, the paid edition, not in BullMQ',
  ),
} satisfies Record<FeatureScenario, FeatureSupport>;

const PGBOSS_NONE = {
  routing: notOffered('no worker labels: routing is by queue name'),
  ratelimit: notOffered(
    'no limit on starts per period: throttling (`sendThrottled`, `sendDebounced`, `singletonSeconds`) lets one job per period through at send, dropping or deferring the rest',
  ),
  groups: notOffered(
    'no fair share: a job\u2019s `group` only caps how many of the group run at once (`groupConcurrency`); jobs are still fetched by priority and creation order',
  ),
};

/**
 * Which system offers which feature. Peers run a feature only where it is theirs and
 * configured as their documentation says; elsewhere the results say "not offered", and why.
 */
export const FEATURES: Record<FeatureScenario, Record<SystemName, FeatureSupport>> = {
  fanout: {
    taskq: { offered: true, how: 'ctx.spawn and return ctx.waitFor(...)', source: TASKQ_DOCS },
    'graphile-worker-0.17': GRAPHILE_NONE.fanout,
    'graphile-worker-0.18': GRAPHILE_NONE.fanout,
    'pg-boss-12': notOffered(
      'a running job cannot wait for jobs: flow() dependencies are declared when the jobs are created',
    ),
    'bullmq-redis': BULLMQ.fanout,
    'bullmq-postgres': BULLMQ.fanout,
  },
  dag: {
    taskq: { offered: true, how: 'POST /v1/workflows with depends_on', source: TASKQ_DOCS },
    'graphile-worker-0.17': GRAPHILE_NONE.dag,
    'graphile-worker-0.18': GRAPHILE_NONE.dag,
    'pg-boss-12': {
      offered: true,
      how:
        `\`flow()\` with dependsOn; \`flowIntervalSeconds: ${PGBOSS_FLOW_INTERVAL_SECONDS}\` (the smallest it accepts; default 5), ` +
        'since a background resolver, not the completion, unblocks dependents. The join is not handed its parents\u2019 outputs',
      source:
        'docs/api/jobs.md (flow, resolveFlow) and docs/api/constructor.md (flowIntervalSeconds)',
    },
    'bullmq-redis': BULLMQ.dag,
    'bullmq-postgres': BULLMQ.dag,
  },
  routing: {
    taskq: {
      offered: true,
      how: VARIANT_SETTINGS.routed,
      source: `${TASKQ_LIMITS_DOCS} (requires); \`taskq worker --label\``,
    },
    'graphile-worker-0.17': GRAPHILE_NONE.routing,
    'graphile-worker-0.18': GRAPHILE_NONE.routing,
    'pg-boss-12': PGBOSS_NONE.routing,
    'bullmq-redis': BULLMQ.routing,
    'bullmq-postgres': BULLMQ.routing,
  },
  ratelimit: {
    taskq: {
      offered: true,
      how: `the queue's \`rate_limit: { count: ${RATE_LIMIT.count}, period_ms: ${RATE_LIMIT.periodMs} }\`, set with PUT /v1/queues/default`,
      source: `${TASKQ_LIMITS_DOCS} (rate_limit)`,
    },
    'graphile-worker-0.17': GRAPHILE_NONE.ratelimit,
    'graphile-worker-0.18': GRAPHILE_NONE.ratelimit,
    'pg-boss-12': PGBOSS_NONE.ratelimit,
    'bullmq-redis': BULLMQ.ratelimit,
    'bullmq-postgres': BULLMQ.ratelimit,
  },
  groups: {
    taskq: {
      offered: true,
      how: `each task's \`group\` (${GROUPS} groups); the claim takes the groups round robin`,
      source: `${TASKQ_LIMITS_DOCS} (group)`,
    },
    'graphile-worker-0.17': GRAPHILE_NONE.groups,
    'graphile-worker-0.18': GRAPHILE_NONE.groups,
    'pg-boss-12': PGBOSS_NONE.groups,
    'bullmq-redis': BULLMQ.groups,
    'bullmq-postgres': BULLMQ.groups,
  },
};

/** True when `system` runs `feature` in the bench. */
export function offers(feature: FeatureScenario, system: SystemName): boolean {
  return FEATURES[feature][system].offered;
}
