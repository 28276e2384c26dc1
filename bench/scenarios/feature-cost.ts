import { cpuBusy } from '../lib/machine.js';
import type { SystemName } from '../lib/options.js';
import { FEATURE_VARIANT, VARIANT_SETTINGS } from '../systems/features.js';
import type { DrainVariant } from '../systems/types.js';
import type { RunContext } from './context.js';
import { drain, type DrainResult } from './drain.js';

/** The scenarios that price a feature against the plain drain. */
export type FeatureCostScenario = keyof typeof FEATURE_VARIANT;

/** A feature's drains against plain drains of the same run, for one system. */
export interface FeatureCostResult {
  variant: DrainVariant;
  /** What the feature's drains set, in words. */
  setting: string;
  /** The drains in the order they ran. */
  order: DrainVariant[];
  plain: DrainResult[];
  feature: DrainResult[];
  /**
   * Share of all cores busy just before each drain, in `order` (null in smoke runs): other
   * programs' load, as the runner records it before each step.
   */
  backgroundCpu: Array<number | null>;
  /** Tasks over time, summed over each side's drains. */
  plainTasksPerSec: number;
  featureTasksPerSec: number;
  /** The feature's rate ÷ the plain rate: 1.0 means the feature costs nothing. */
  ratio: number;
  /**
   * CPU per task, the system's processes and its datastore together, feature ÷ plain; null
   * where CPU cannot be read. Above 1 means the feature costs CPU.
   */
  cpuRatio: number | null;
}

/**
 * Scenarios 10–12: the drain (`drainTasks` no-op tasks) with a feature in use, against the
 * plain drain in the same run. Timed runs alternate them plain, feature, feature, plain, …
 * (`featurePairs` of each), one at a time, so that drift in the machine's load falls on both
 * alike; a smoke run, which times nothing, runs one of each at once.
 */
export async function featureCost(
  ctx: RunContext,
  system: SystemName,
  scenario: FeatureCostScenario,
): Promise<FeatureCostResult> {
  const variant = FEATURE_VARIANT[scenario];
  const order: DrainVariant[] = [];
  for (let p = 0; p < ctx.sizes.featurePairs; p++) {
    order.push(...(p % 2 === 0 ? (['plain', variant] as const) : ([variant, 'plain'] as const)));
  }
  const backgroundCpu: Array<number | null> = [];
  const results =
    ctx.mode === 'smoke'
      ? await Promise.all(
          order.map((v) => {
            backgroundCpu.push(null);
            return drain(ctx, system, v);
          }),
        )
      : await sequence(
          order.map((v) => async () => {
            backgroundCpu.push(await cpuBusy(300));
            return drain(ctx, system, v);
          }),
        );
  const plain = results.filter((_, i) => order[i] === 'plain');
  const feature = results.filter((_, i) => order[i] !== 'plain');
  const rate = (rs: DrainResult[]): number =>
    (rs.reduce((n, r) => n + r.tasks, 0) * 1000) / rs.reduce((ms, r) => ms + r.ms, 0);
  const cpu = (rs: DrainResult[]): number | null => {
    const per = rs.map((r) =>
      r.cpuMsPer1000.client === null || r.cpuMsPer1000.datastore === null
        ? null
        : r.cpuMsPer1000.client + r.cpuMsPer1000.datastore,
    );
    return per.some((x) => x === null)
      ? null
      : (per as number[]).reduce((a, b) => a + b, 0) / per.length;
  };
  const plainCpu = cpu(plain);
  const featureCpu = cpu(feature);
  return {
    variant,
    setting: VARIANT_SETTINGS[variant],
    order,
    plain,
    feature,
    backgroundCpu,
    plainTasksPerSec: rate(plain),
    featureTasksPerSec: rate(feature),
    ratio: rate(feature) / rate(plain),
    cpuRatio: plainCpu === null || featureCpu === null ? null : featureCpu / plainCpu,
  };
}

async function sequence<T>(steps: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = [];
  for (const step of steps) out.push(await step());
  return out;
}
