import type { BenchMode, BenchSizes, ScenarioId, SystemName } from '../lib/options.js';
import type { CeilingResult } from '../scenarios/ceiling.js';
import type { DrainResult } from '../scenarios/drain.js';
import type { EnqueueResult } from '../scenarios/enqueue.js';
import type { LatencyResult, ScheduledResult } from '../scenarios/latency.js';
import type { FeatureCostResult } from '../scenarios/feature-cost.js';
import type { ScaleResult } from '../scenarios/scale.js';
import type { WorkflowResult } from '../scenarios/workflows.js';
import type { FeatureScenario, FeatureSupport } from '../systems/features.js';

/** What each scenario measured, per system. */
export interface RawResults {
  'enqueue-bulk': Partial<Record<SystemName, EnqueueResult>>;
  'enqueue-single': Partial<Record<SystemName, EnqueueResult>>;
  drain: Partial<Record<SystemName, DrainResult>>;
  latency: Partial<Record<SystemName, LatencyResult>>;
  scheduled: Partial<Record<SystemName, ScheduledResult>>;
  scale: Partial<Record<SystemName, ScaleResult>>;
  ceiling: CeilingResult | null;
  fanout: Partial<Record<SystemName, WorkflowResult>>;
  dag: Partial<Record<SystemName, WorkflowResult>>;
  routing: Partial<Record<SystemName, FeatureCostResult>>;
  ratelimit: Partial<Record<SystemName, FeatureCostResult>>;
  groups: Partial<Record<SystemName, FeatureCostResult>>;
  /** Systems that do not offer a scenario's feature, and why (bench/systems/features.ts). */
  notOffered: Partial<Record<FeatureScenario, Partial<Record<SystemName, string>>>>;
}

/** One line of the results table. */
export interface ResultRow {
  scenario: ScenarioId;
  /** Stable key, e.g. `latency.p99`. */
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  values: Partial<Record<SystemName, number | null>>;
  /** Ours divided by the best peer's figure (the highest, or the lowest for `lower`). */
  ratio: number | null;
  target: { text: string; met: boolean | null } | null;
  /**
   * The scenario's headline: the smoke test requires a number here from every system that
   * offers the scenario's feature.
   */
  primary: boolean;
  /** Systems without the feature this row measures, and why: "not offered" in the table. */
  notOffered: Partial<Record<SystemName, string>>;
}

/** The machine and software a run measured. */
export interface RunEnvironment {
  date: string;
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  postgres: string;
  commit: string;
  /** Uncommitted changes in src/ when the run started, if any. */
  dirtySrc: boolean;
}

/** Everything written to latest.json. */
export interface BenchResults {
  mode: BenchMode;
  environment: RunEnvironment;
  sizes: BenchSizes;
  /** How each system was configured. */
  setups: Record<string, unknown>;
  systems: SystemName[];
  /** Requested systems that could not run here, and why (smoke runs only). */
  skipped: Partial<Record<SystemName, string>>;
  /** For each feature scenario run: how each system ran it, or why it is not offered. */
  features?: Partial<Record<FeatureScenario, Partial<Record<SystemName, FeatureSupport>>>>;
  rows: ResultRow[];
  /**
   * Share of all cores busy (0..1) just before each step while the bench idled: other
   * programs' load. Full runs wait for it to fall below 0.25 (up to a minute per step);
   * quick runs only record it; null in smoke runs.
   */
  backgroundCpu: Record<string, number | null>;
  raw: RawResults;
  /** Wall-clock seconds of the whole run. */
  seconds: number;
}

/** An empty result set. */
export function emptyRaw(): RawResults {
  return {
    'enqueue-bulk': {},
    'enqueue-single': {},
    drain: {},
    latency: {},
    scheduled: {},
    scale: {},
    ceiling: null,
    fanout: {},
    dag: {},
    routing: {},
    ratelimit: {},
    groups: {},
    notOffered: {},
  };
}
