import type { SystemName } from '../lib/options.js';
import type { PackageHome } from '../lib/peer-install.js';
import type { PeerAdapterName } from './peer-host/protocol.js';

/** A peer: every system but ours. */
export type PeerName = Exclude<SystemName, 'taskq'>;

/** How one peer runs in the bench, and where its settings come from. */
export interface PeerSpec {
  /** The library's npm package. */
  pkg: 'graphile-worker' | 'pg-boss' | 'bullmq';
  /** Where it is installed: the project's devDependencies, or bench/peers. */
  home: PackageHome;
  /** Which Node runs it: the project's (the one running the bench), or bench/peers' Node 24. */
  node: PackageHome;
  /** The peer host's adapter (bench/systems/peer-host/). */
  adapter: PeerAdapterName;
  /** BullMQ's datastore. */
  backend?: 'redis' | 'postgres';
  /** Worker processes in the full and quick runs; smoke runs use one. */
  workerProcesses: number;
  /** Passed to the adapter as is, and printed in the results. */
  settings: Record<string, unknown>;
  /** Where the settings come from. */
  source: string;
  /** What the peer keeps of a finished task, as this bench runs it. */
  keeps: string;
}

/**
 * graphile-worker's perfTest (perfTest/graphile.config.js and perfTest/run.js in
 * graphile/worker): 24 concurrent jobs per process, a pool of 25, a local queue of 500 jobs
 * refetched after 10 ms, completions and failures batched with no delay, success logging
 * off (NO_LOG_SUCCESS=1). The perfTest runs four worker processes; here two run, one per
 * core as for ours, because four pools of 25 would take every one of the 100 connections
 * the server allows.
 */
const GRAPHILE_PERFTEST = {
  concurrentJobs: 24,
  maxPoolSize: 25,
  localQueue: { size: 500, refetchDelay: { durationMs: 10 } },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
  pollInterval: 2000,
  NO_LOG_SUCCESS: '1',
};

const GRAPHILE_SOURCE =
  'graphile/worker perfTest/graphile.config.js (concurrency 24, pool 25, local queue 500 with a 10 ms ' +
  'refetch delay, completion and failure batch delays 0) and perfTest/run.js (NO_LOG_SUCCESS=1; it runs 4 worker processes, 2 here: 4 pools of 25 would take all 100 ' +
  'connections the server allows)';

const GRAPHILE_KEEPS =
  'nothing: a finished job is deleted (graphile-worker has no option to keep it)';

/**
 * BullMQ on either datastore: 100 concurrent jobs per worker (the high-concurrency case of
 * the benchmark in BullMQ's repository, rust/examples/benchmark.rs, which says it mirrors the
 * Node.js one; the PostgreSQL guide's table tops out at concurrency 8–32), and two worker
 * processes, since the concurrency guide recommends several processes over one. Completed
 * jobs are kept (removeOnComplete false, BullMQ's default).
 */
const BULLMQ_SETTINGS = { concurrency: 100, removeOnComplete: false };

const BULLMQ_SOURCE =
  'BullMQ repository rust/examples/benchmark.rs ("mirrors the Node.js/Bun benchmark": concurrency 100 for ' +
  'its high-concurrency run); docs guide/workers/concurrency (several worker processes recommended); ' +
  'docs guide/postgresql (pool max sized for the concurrency, within max_connections: 20 per process here, ' +
  'where the server allows 100)';

/** Every peer as it runs unless BENCH_PEER_OVERRIDES says otherwise. */
const DEFAULT_PEERS: Record<PeerName, PeerSpec> = {
  'graphile-worker-0.17': {
    pkg: 'graphile-worker',
    home: 'project',
    node: 'project',
    adapter: 'graphile',
    workerProcesses: 2,
    settings: GRAPHILE_PERFTEST,
    source: GRAPHILE_SOURCE,
    keeps: GRAPHILE_KEEPS,
  },
  'graphile-worker-0.18': {
    pkg: 'graphile-worker',
    home: 'peers',
    node: 'peers',
    adapter: 'graphile',
    workerProcesses: 2,
    settings: GRAPHILE_PERFTEST,
    source: GRAPHILE_SOURCE,
    keeps: GRAPHILE_KEEPS,
  },
  'pg-boss-12': {
    pkg: 'pg-boss',
    home: 'peers',
    node: 'peers',
    adapter: 'pgboss',
    workerProcesses: 2,
    settings: {
      max: 10,
      useListenNotify: true,
      queueNotify: true,
      batchSize: 500,
      localConcurrency: 2,
      burstWhenBatchFull: true,
      pollingIntervalSeconds: 0.5,
      notifyPollingIntervalSeconds: 0.5,
    },
    source:
      'pg-boss test/speedTest.ts (pool of 10, jobs fetched and completed in batches); docs/api/workers.md ' +
      '(useListenNotify + queue notify for low-latency dispatch, burstWhenBatchFull to fetch without delay ' +
      'while batches come back full, localConcurrency for parallel fetchers; polling intervals at the 0.5 s ' +
      'minimum, since NOTIFY does not announce future-dated jobs and the notify-mode backstop is 30 s by default)',
    keeps:
      'every job, in state completed with completed_on and output, until its queue deletes it (deleteAfterSeconds, 7 days by default)',
  },
  'bullmq-redis': {
    pkg: 'bullmq',
    home: 'project',
    node: 'project',
    adapter: 'bullmq',
    backend: 'redis',
    workerProcesses: 2,
    settings: BULLMQ_SETTINGS,
    source: BULLMQ_SOURCE,
    keeps:
      'every completed job (hash with data, return value, timestamps) and its place in the completed set',
  },
  'bullmq-postgres': {
    pkg: 'bullmq',
    home: 'project',
    node: 'project',
    adapter: 'bullmq',
    backend: 'postgres',
    workerProcesses: 2,
    settings: { ...BULLMQ_SETTINGS, max: 20 },
    source: BULLMQ_SOURCE,
    keeps: 'every completed job row (state completed, return value, finished_on)',
  },
};

/**
 * Every peer, with BENCH_PEER_OVERRIDES applied: JSON such as
 * `{"bullmq-redis": {"workerProcesses": 1, "settings": {"concurrency": 50}}}`, for trying
 * other shapes. The results print the settings each run used.
 * @throws Error at start-up when the variable is not such JSON.
 */
export const PEERS: Record<PeerName, PeerSpec> = withOverrides(
  DEFAULT_PEERS,
  process.env.BENCH_PEER_OVERRIDES,
);

function withOverrides(
  peers: Record<PeerName, PeerSpec>,
  text: string | undefined,
): Record<PeerName, PeerSpec> {
  if (!text) return peers;
  const overrides = JSON.parse(text) as Partial<
    Record<PeerName, { workerProcesses?: number; settings?: Record<string, unknown> }>
  >;
  const out = { ...peers };
  for (const [name, o] of Object.entries(overrides) as Array<
    [PeerName, (typeof overrides)[PeerName]]
  >) {
    if (!(name in peers) || !o) throw new Error(`BENCH_PEER_OVERRIDES: unknown peer "${name}"`);
    out[name] = {
      ...peers[name],
      ...(o.workerProcesses === undefined ? {} : { workerProcesses: o.workerProcesses }),
      settings: { ...peers[name].settings, ...o.settings },
    };
  }
  return out;
}

/** What a peer needs beyond the project's own install. */
export function peerNeeds(spec: PeerSpec): { peersInstall: boolean; redis: boolean } {
  return {
    // BullMQ on Redis takes its Redis client (ioredis) from bench/peers.
    peersInstall: spec.home === 'peers' || spec.node === 'peers' || spec.backend === 'redis',
    redis: spec.backend === 'redis',
  };
}
