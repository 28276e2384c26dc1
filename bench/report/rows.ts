import type { ScenarioId, SystemName } from '../lib/options.js';
import type { FeatureCostResult, FeatureCostScenario } from '../scenarios/feature-cost.js';
import type { WorkflowResult } from '../scenarios/workflows.js';
import { GROUPS, type FeatureScenario } from '../systems/features.js';
import type { RawResults, ResultRow } from './model.js';

type Values = Partial<Record<SystemName, number | null>>;

interface RowSpec {
  scenario: ScenarioId;
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  values: Values;
  primary?: boolean;
  target?: { text: string; check: (v: Values) => boolean | null };
}

function pick<T>(
  systems: readonly SystemName[],
  // Undefined in results written before the scenario existed (bench/tools/render.ts).
  bySystem: Partial<Record<SystemName, T>> | undefined,
  f: (r: T) => number | null,
): Values {
  const out: Values = {};
  for (const s of systems) {
    const r = bySystem?.[s];
    out[s] = r === undefined ? null : f(r);
  }
  return out;
}

/** True when both are numbers and `test` holds; null when a figure is missing. */
function cmp(a: number | null | undefined, test: (a: number) => boolean): boolean | null {
  return a === null || a === undefined ? null : test(a);
}

function ratioOf(a: number | null | undefined, b: number | null | undefined): number | null {
  return a === null || a === undefined || b === null || b === undefined || b === 0 ? null : a / b;
}

/** The table: one or more rows per scenario, in run order, with ratios and targets. */
export function buildRows(raw: RawResults, systems: readonly SystemName[]): ResultRow[] {
  // The targets name graphile-worker and pg-boss: the better of the two graphile-worker
  // releases counts, and pg-boss 12.
  const gw = (v: Values): number | null | undefined => {
    const xs = [v['graphile-worker-0.17'], v['graphile-worker-0.18']].filter(
      (x): x is number => typeof x === 'number',
    );
    return xs.length === 0 ? null : Math.max(...xs);
  };
  const pb = (v: Values): number | null | undefined => v['pg-boss-12'];
  const ceilingTps = raw.ceiling?.tasksPerSec ?? null;
  const specs: RowSpec[] = [
    {
      scenario: 'enqueue-bulk',
      key: 'enqueue-bulk.rate',
      label: 'Enqueue, bulk',
      unit: 'tasks/s',
      better: 'higher',
      primary: true,
      values: pick(systems, raw['enqueue-bulk'], (r) => r.tasksPerSec),
      target: {
        text: '≥ 1.0× graphile-worker',
        check: (v) => cmp(ratioOf(v.taskq, gw(v)), (r) => r >= 1),
      },
    },
    {
      scenario: 'enqueue-single',
      key: 'enqueue-single.rate',
      label: 'Enqueue, single (64 callers)',
      unit: 'tasks/s',
      better: 'higher',
      primary: true,
      values: pick(systems, raw['enqueue-single'], (r) => r.tasksPerSec),
      target: { text: '≥ 10,000 tasks/s', check: (v) => cmp(v.taskq, (x) => x >= 10_000) },
    },
    {
      scenario: 'drain',
      key: 'drain.rate',
      label: 'Drain',
      unit: 'tasks/s',
      better: 'higher',
      primary: true,
      values: pick(systems, raw.drain, (r) => r.tasksPerSec),
      target: {
        text: '≥ 1.0× graphile-worker, ≥ 3× pg-boss',
        check: (v) => {
          const a = cmp(ratioOf(v.taskq, gw(v)), (r) => r >= 1);
          const b = cmp(ratioOf(v.taskq, pb(v)), (r) => r >= 3);
          return a === null || b === null ? null : a && b;
        },
      },
    },
    {
      scenario: 'drain',
      key: 'drain.cpu.client',
      label: 'Drain CPU, queue processes',
      unit: 'ms/1k tasks',
      better: 'lower',
      values: pick(systems, raw.drain, (r) => r.cpuMsPer1000.client),
    },
    {
      scenario: 'drain',
      key: 'drain.cpu.datastore',
      label: 'Drain CPU, datastore server (PostgreSQL; Redis for BullMQ on Redis)',
      unit: 'ms/1k tasks',
      better: 'lower',
      values: pick(systems, raw.drain, (r) => r.cpuMsPer1000.datastore),
    },
    ...(['p50', 'p99', 'max'] as const).map(
      (p): RowSpec => ({
        scenario: 'latency',
        key: `latency.${p}`,
        label: `Latency ${p}, ack → start`,
        unit: 'ms',
        better: 'lower',
        primary: p === 'p50',
        values: pick(systems, raw.latency, (r) => r.ackToStart[p]),
        ...(p === 'max'
          ? {}
          : {
              target: {
                text: p === 'p50' ? '≤ 3 ms' : '≤ 15 ms',
                check: (v: Values) => cmp(v.taskq, (x) => x <= (p === 'p50' ? 3 : 15)),
              },
            }),
      }),
    ),
    ...(['p50', 'p99'] as const).map(
      (p): RowSpec => ({
        scenario: 'latency',
        key: `latency.send.${p}`,
        label: `Latency ${p}, submit call → start`,
        unit: 'ms',
        better: 'lower',
        values: pick(systems, raw.latency, (r) => r.sendToStart[p]),
      }),
    ),
    ...(['p50', 'p99', 'max'] as const).map(
      (p): RowSpec => ({
        scenario: 'scheduled',
        key: `scheduled.${p}`,
        label: `Scheduled ${p}, start − run_at`,
        unit: 'ms',
        better: 'lower',
        primary: p === 'p50',
        values: pick(systems, raw.scheduled, (r) => r.lateness[p]),
        ...(p === 'p99'
          ? { target: { text: '≤ 20 ms', check: (v: Values) => cmp(v.taskq, (x) => x <= 20) } }
          : {}),
      }),
    ),
    {
      scenario: 'scheduled',
      key: 'scheduled.early',
      label: 'Scheduled, early starts',
      unit: 'tasks',
      better: 'lower',
      values: pick(systems, raw.scheduled, (r) => r.early),
      target: { text: 'none', check: (v) => cmp(v.taskq, (x) => x === 0) },
    },
    {
      scenario: 'scale',
      key: 'scale.small',
      label: 'Claim+complete, small backlog',
      unit: 'tasks/s',
      better: 'higher',
      primary: true,
      values: pick(systems, raw.scale, (r) => r.small.tasksPerSec),
    },
    {
      scenario: 'scale',
      key: 'scale.large',
      label: 'Claim+complete, large backlog',
      unit: 'tasks/s',
      better: 'higher',
      primary: true,
      values: pick(systems, raw.scale, (r) => r.large.tasksPerSec),
    },
    {
      scenario: 'scale',
      key: 'scale.ratio',
      label: 'Large ÷ small backlog throughput',
      unit: '×',
      better: 'higher',
      values: pick(systems, raw.scale, (r) => r.ratio),
      target: { text: '≥ 0.8 (within 20%)', check: (v) => cmp(v.taskq, (x) => x >= 0.8) },
    },
    {
      scenario: 'scale',
      key: 'scale.rss',
      label: 'Coordinator peak RSS, large backlog',
      unit: 'MB',
      better: 'lower',
      values: pick(systems, raw.scale, (r) => r.large.dispatcherRssMb),
      target: { text: '< 200 MB', check: (v) => cmp(v.taskq, (x) => x < 200) },
    },
    {
      scenario: 'ceiling',
      key: 'ceiling.share',
      label: `Drain as % of raw SQL ceiling${ceilingTps === null ? '' : ` (${Math.round(ceilingTps).toLocaleString('en-US')} tasks/s)`}`,
      unit: '%',
      better: 'higher',
      primary: true,
      values: pick(systems, raw.drain, (r) =>
        ceilingTps === null ? null : (100 * r.tasksPerSec) / ceilingTps,
      ),
      target: { text: '≥ 50%', check: (v) => cmp(v.taskq, (x) => x >= 50) },
    },
    ...workflowRows(systems, 'fanout', raw.fanout),
    ...workflowRows(systems, 'dag', raw.dag),
    ...featureCostRows(systems, 'routing', raw.routing),
    ...featureCostRows(systems, 'ratelimit', raw.ratelimit),
    ...featureCostRows(systems, 'groups', raw.groups),
  ];
  const notOffered = raw.notOffered ?? {};
  return specs
    .filter((r) => Object.values(r.values).some((v) => v !== null))
    .map((r) => ({
      scenario: r.scenario,
      key: r.key,
      label: r.label,
      unit: r.unit,
      better: r.better,
      values: r.values,
      ratio: bestPeerRatio(r.values, r.better),
      target: r.target ? { text: r.target.text, met: r.target.check(r.values) } : null,
      primary: r.primary ?? false,
      notOffered: notOffered[r.scenario as FeatureScenario] ?? {},
    }));
}

/** The fan-out's or the DAG's rows: whole time, fan-in, release, rate and CPU. */
function workflowRows(
  systems: readonly SystemName[],
  scenario: 'fanout' | 'dag',
  raw: Partial<Record<SystemName, WorkflowResult>> | undefined,
): RowSpec[] {
  const size = Object.values(raw ?? {})[0]?.size;
  const n = size === undefined ? 'N' : size.toLocaleString('en-US');
  const fanout = scenario === 'fanout';
  const name = fanout ? `Fan-out (${n} children)` : `DAG (1 → ${n} → 1)`;
  const what = fanout ? 'children' : 'nodes';
  const row = (
    key: string,
    label: string,
    unit: string,
    better: 'higher' | 'lower',
    f: (r: WorkflowResult) => number | null,
    primary = false,
  ): RowSpec => ({
    scenario,
    key: `${scenario}.${key}`,
    label,
    unit,
    better,
    primary,
    values: pick(systems, raw, f),
  });
  return [
    row(
      'total',
      `${name}, submit → ${fanout ? 'parent' : 'join'} done`,
      'ms',
      'lower',
      (r) => r.median.totalMs,
      true,
    ),
    row(
      'fanin',
      `${name}, fan-in: last ${fanout ? 'child' : 'node'} done → ${fanout ? 'parent resumed' : 'join started'}`,
      'ms',
      'lower',
      (r) => r.median.fanInMs,
      true,
    ),
    row(
      'release',
      fanout
        ? `${name}, submit → children stored (parent's first run)`
        : `${name}, root done → first node started`,
      'ms',
      'lower',
      (r) => r.median.releaseMs,
    ),
    row('rate', `${name}, ${what}/s`, 'tasks/s', 'higher', (r) => r.median.perSec),
    ...(['client', 'datastore'] as const).map((k) =>
      row(
        `cpu.${k}`,
        `${name}, CPU per 1k ${what}, ${k === 'client' ? 'queue processes' : 'datastore server'}`,
        'ms/1k tasks',
        'lower',
        (r) => r.cpuMsPer1000[k],
      ),
    ),
  ];
}

/** Each feature-cost scenario's name in the table, and what its drain's tasks carry. */
const FEATURE_COST_LABELS: Record<FeatureCostScenario, { name: string; feature: string }> = {
  routing: { name: 'Routing', feature: 'every task requires a worker label' },
  ratelimit: { name: 'Rate limit', feature: 'a rate limit far above its rate' },
  groups: { name: 'Groups', feature: `tasks in ${GROUPS} groups, fair share` },
};

/** A feature's drain against the plain drain of the same run: both rates, and the ratios. */
function featureCostRows(
  systems: readonly SystemName[],
  scenario: FeatureCostScenario,
  raw: Partial<Record<SystemName, FeatureCostResult>> | undefined,
): RowSpec[] {
  const { name, feature } = FEATURE_COST_LABELS[scenario];
  const base = { scenario, unit: 'tasks/s', better: 'higher' } as const;
  return [
    {
      ...base,
      key: `${scenario}.plain`,
      label: `${name}: plain drain, same run`,
      values: pick(systems, raw, (r) => r.plainTasksPerSec),
    },
    {
      ...base,
      key: `${scenario}.feature`,
      label: `${name}: drain, ${feature}`,
      values: pick(systems, raw, (r) => r.featureTasksPerSec),
    },
    {
      ...base,
      key: `${scenario}.ratio`,
      label: `${name}: drain ÷ plain drain`,
      unit: '×',
      primary: true,
      values: pick(systems, raw, (r) => r.ratio),
    },
    {
      ...base,
      key: `${scenario}.cpu`,
      label: `${name}: CPU per task ÷ plain (processes + datastore)`,
      unit: '×',
      better: 'lower',
      values: pick(systems, raw, (r) => r.cpuRatio),
    },
  ];
}

function bestPeerRatio(values: Values, better: 'higher' | 'lower'): number | null {
  const ours = values.taskq;
  const peers = (Object.entries(values) as Array<[SystemName, number | null]>)
    .filter(([s, v]) => s !== 'taskq' && v !== null)
    .map(([, v]) => v as number);
  if (ours === null || ours === undefined || peers.length === 0) return null;
  const best = better === 'higher' ? Math.max(...peers) : Math.min(...peers);
  return best === 0 ? null : ours / best;
}
