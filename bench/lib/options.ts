/** How much work each scenario does. `smoke` proves the harness runs; nothing in it is timed. */
export type BenchMode = 'smoke' | 'quick' | 'full';

/**
 * The systems under test. `taskq` is this project; the others are peers at their current
 * releases (bench/systems/peers.ts says how each runs and where its settings come from).
 */
export type SystemName =
  | 'taskq'
  | 'graphile-worker-0.17'
  | 'graphile-worker-0.18'
  | 'pg-boss-12'
  | 'bullmq-redis'
  | 'bullmq-postgres';

/** Every system, ours first. */
export const SYSTEMS: readonly SystemName[] = [
  'taskq',
  'graphile-worker-0.17',
  'graphile-worker-0.18',
  'pg-boss-12',
  'bullmq-redis',
  'bullmq-postgres',
];

/** The scenario ids, in run order. */
export const SCENARIO_IDS = [
  'enqueue-bulk',
  'enqueue-single',
  'drain',
  'latency',
  'scheduled',
  'scale',
  'ceiling',
  'fanout',
  'dag',
  'routing',
  'ratelimit',
  'groups',
] as const;

/** One of {@link SCENARIO_IDS}. */
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** Sizes for one mode. */
export interface BenchSizes {
  /** Tasks added through each system's bulk path. */
  bulkTasks: number;
  /** Rows per bulk request (our batch route takes at most 5000). */
  bulkChunk: number;
  /** Tasks added one call at a time. */
  singleTasks: number;
  /** Concurrent callers for single adds. */
  singleConcurrency: number;
  /** Tasks pending when the workers are let loose. */
  drainTasks: number;
  /** Tasks submitted at a steady rate for the latency scenario. */
  latencyTasks: number;
  /** Submissions per second for the latency scenario. */
  latencyRate: number;
  /** Tasks with run_at spread over `scheduledSpreadMs`. */
  scheduledTasks: number;
  scheduledSpreadMs: number;
  /** The backlogs the scale scenario compares: small, then large. */
  scaleBacklogs: [number, number];
  /**
   * The completions timed in each scale run, as fractions of the small backlog: from the
   * first to the second (start-up and the tail are left out).
   */
  scaleWindow: [number, number];
  /** Tasks the raw SQL ceiling loop claims and completes. */
  ceilingTasks: number;
  /** Children one parent spawns and waits for (ctx.spawn, ctx.waitFor). */
  fanoutChildren: number;
  /** Nodes between a DAG's root and its join (1 → N → 1). */
  dagNodes: number;
  /** Measured fan-outs and DAGs per system, one after the other, after an unmeasured small one. */
  workflowRounds: number;
  /**
   * Plain drains and drains with a feature (routing, rate limit, fair share) per system, run
   * in the order plain, feature, feature, plain, … so that drift in the machine's load falls
   * on both alike. Each drain has `drainTasks` tasks.
   */
  featurePairs: number;
}

/** Sizes per mode. The full mode follows the benchmark issue; quick fits in two minutes. */
export const SIZES: Record<BenchMode, BenchSizes> = {
  smoke: {
    bulkTasks: 50,
    bulkChunk: 5000,
    singleTasks: 50,
    singleConcurrency: 8,
    drainTasks: 50,
    latencyTasks: 50,
    latencyRate: 500,
    scheduledTasks: 50,
    scheduledSpreadMs: 1000,
    scaleBacklogs: [100, 1000],
    scaleWindow: [0.1, 0.9],
    ceilingTasks: 200,
    fanoutChildren: 20,
    dagNodes: 10,
    workflowRounds: 1,
    featurePairs: 1,
  },
  quick: {
    bulkTasks: 20_000,
    bulkChunk: 5000,
    singleTasks: 2000,
    singleConcurrency: 64,
    drainTasks: 10_000,
    latencyTasks: 1000,
    latencyRate: 500,
    scheduledTasks: 1000,
    scheduledSpreadMs: 5000,
    scaleBacklogs: [10_000, 100_000],
    scaleWindow: [0.1, 0.5],
    ceilingTasks: 20_000,
    fanoutChildren: 2000,
    dagNodes: 1000,
    workflowRounds: 3,
    featurePairs: 2,
  },
  full: {
    bulkTasks: 100_000,
    bulkChunk: 5000,
    singleTasks: 20_000,
    singleConcurrency: 64,
    drainTasks: 50_000,
    latencyTasks: 2000,
    latencyRate: 500,
    scheduledTasks: 2000,
    scheduledSpreadMs: 10_000,
    scaleBacklogs: [10_000, 1_000_000],
    scaleWindow: [0.1, 0.9],
    ceilingTasks: 100_000,
    fanoutChildren: 10_000,
    // The largest 1 → N → 1 graph POST /v1/workflows takes: a task's depends_on holds at most
    // 1,000 keys (src/api/schemas/workflows.ts), so the join can wait for at most 1,000 nodes.
    dagNodes: 1000,
    workflowRounds: 3,
    featurePairs: 2,
  },
};

/** Parsed command line of `npm run bench`. */
export interface BenchArgs {
  mode: BenchMode;
  /** Only these scenarios (default: all). */
  only: ScenarioId[];
  /** Only these systems (default: all). */
  systems: SystemName[];
  /** Where latest.json, latest.md and chart.svg go. */
  outDir: string | undefined;
  /** Overrides the mode's drain size (e.g. for the scaling curve). */
  drainTasks: number | undefined;
}

const USAGE = `usage: npm run bench -- [--quick | --smoke] [--only a,b] [--systems a,b] [--out dir]
  (default)   full run, as in docs/performance.md
  --quick     smaller sizes; under two minutes
  --smoke     tiny sizes for CI; nothing is asserted on speed
  --only      scenarios: ${SCENARIO_IDS.join(', ')}
  --systems   ${SYSTEMS.join(', ')}
  --out       results folder (default bench/results; smoke runs use a temporary folder)
  --drain-tasks N
              tasks in the drain scenario, instead of the mode's size`;

/**
 * Reads the command line.
 * @throws Error with the usage text for an unknown flag or value.
 */
export function parseArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = {
    mode: 'full',
    only: [...SCENARIO_IDS],
    systems: [...SYSTEMS],
    outDir: undefined,
    drainTasks: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--quick') args.mode = 'quick';
    else if (a === '--smoke') args.mode = 'smoke';
    else if (a === '--full') args.mode = 'full';
    else if (a === '--only') args.only = pickList(value(), SCENARIO_IDS, '--only');
    else if (a === '--systems') args.systems = pickList(value(), SYSTEMS, '--systems');
    else if (a === '--out') args.outDir = value();
    else if (a === '--drain-tasks') args.drainTasks = positiveInt(value(), a);
    else if (a === '--help' || a === '-h') throw new Error(USAGE);
    else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return args;
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`${flag}: "${text}" is not a positive whole number\n${USAGE}`);
  }
  return n;
}

function pickList<T extends string>(text: string, allowed: readonly T[], flag: string): T[] {
  const items = text.split(',').map((s) => s.trim());
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      throw new Error(`${flag}: unknown "${item}"; choose from ${allowed.join(', ')}`);
    }
  }
  return items as T[];
}
