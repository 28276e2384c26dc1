import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { openBenchDatabase, redact } from './lib/database.js';
import {
  SCENARIO_IDS,
  SIZES,
  SYSTEMS,
  type BenchMode,
  type ScenarioId,
  type SystemName,
} from './lib/options.js';
import { cpuBusy, waitForQuiet } from './lib/machine.js';
import { ensurePeersInstalled, peersInstalled, PROJECT_DIR } from './lib/peer-install.js';
import { checkBuild, CLI, killAll } from './lib/processes.js';
import { REDIS_URL, redisReachable, redisVersion } from './lib/redis.js';
import { fmt, progress, step } from './lib/progress.js';
import { runConcurrently } from './lib/timing.js';
import { toSvg } from './report/chart.js';
import { toMarkdown } from './report/markdown.js';
import {
  emptyRaw,
  type BenchResults,
  type RawResults,
  type RunEnvironment,
} from './report/model.js';
import { buildRows } from './report/rows.js';
import { ceiling } from './scenarios/ceiling.js';
import type { RunContext } from './scenarios/context.js';
import { drain } from './scenarios/drain.js';
import { enqueueBulk, enqueueSingle } from './scenarios/enqueue.js';
import { featureCost, type FeatureCostResult } from './scenarios/feature-cost.js';
import { latency, scheduled } from './scenarios/latency.js';
import { scale } from './scenarios/scale.js';
import { dag, fanout, type WorkflowResult } from './scenarios/workflows.js';
import { FEATURES, type FeatureScenario } from './systems/features.js';
import { peerNodeBinary, peerVersion } from './systems/peer.js';
import { peerNeeds, PEERS, type PeerName } from './systems/peers.js';
import { TASKQ_SETUP } from './systems/taskq.js';

/** Options for {@link runBench}. */
export interface RunBenchOptions {
  mode: BenchMode;
  /** Scenarios to run. @default all */
  only?: ScenarioId[];
  /** Systems to run. @default all */
  systems?: SystemName[];
  /** Tasks in the drain scenario. @default the mode's size */
  drainTasks?: number;
  /** PostgreSQL URL. @default DATABASE_URL, else the local server, else an embedded one */
  databaseUrl?: string;
  /**
   * Where latest.json, latest.md and chart.svg go; null writes nothing.
   * @default bench/results (smoke runs: a folder in the system's temporary directory)
   */
  outDir?: string | null;
}

/**
 * Systems a smoke run runs at once: three keep it under a minute with every peer installed,
 * and their pools well inside the server's 100 connections.
 */
const SMOKE_PARALLEL = 3;

/** Where results go unless told otherwise: bench/results/. */
export const DEFAULT_OUT_DIR = fileURLToPath(new URL('./results/', import.meta.url));

/**
 * Runs the scenarios for every system, one at a time, each on fresh schemas, and writes the
 * results. Every process and schema it creates is gone when it returns or throws.
 * @throws Error from the first scenario that fails (a lost task counts as a failure).
 */
export async function runBench(options: RunBenchOptions): Promise<BenchResults> {
  const t0 = Date.now();
  const only = new Set<ScenarioId>(options.only ?? SCENARIO_IDS);
  const requested = SYSTEMS.filter((s) => (options.systems ?? SYSTEMS).includes(s));
  const skipped = await unavailablePeers(requested, options.mode);
  for (const [s, why] of Object.entries(skipped)) progress(`skipping ${s}: ${why}`);
  const systems = requested.filter((s) => !(s in skipped));
  const warning = checkBuild();
  if (warning) progress(`warning: ${warning}`);
  const db = await openBenchDatabase(options.databaseUrl);
  const sizes = {
    ...SIZES[options.mode],
    ...(options.drainTasks === undefined ? {} : { drainTasks: options.drainTasks }),
  };
  progress(`mode ${options.mode}, database ${redact(db.url)}, cli ${CLI}`);
  const ctx: RunContext = { mode: options.mode, sizes, url: db.url, pool: db.pool };
  const raw: RawResults = emptyRaw();
  const background: Record<string, number | null> = {};
  // Smoke runs only prove the harness works, and quick runs must fit in two minutes: only
  // full runs wait for a quiet machine. Quick runs still record the background load.
  const quiet = (): Promise<number | null> =>
    options.mode === 'smoke'
      ? Promise.resolve(null)
      : options.mode === 'quick'
        ? cpuBusy(300)
        : waitForQuiet(0.25, 60_000);
  try {
    const environment = await describeEnvironment(db.pool);
    const features: BenchResults['features'] = {};
    const each = async <T>(
      id: Exclude<ScenarioId, 'ceiling'>,
      fn: (ctx: RunContext, s: SystemName) => Promise<T>,
      describe: (r: T) => string,
      feature?: FeatureScenario,
    ): Promise<void> => {
      if (!only.has(id)) return;
      // A system without the feature is not run; the results say "not offered", and why.
      let runs = systems;
      if (feature) {
        const support = FEATURES[feature];
        features[feature] = Object.fromEntries(systems.map((s) => [s, support[s]]));
        const lacking: Partial<Record<SystemName, string>> = {};
        for (const s of systems) {
          const f = support[s];
          if (!f.offered) lacking[s] = f.why;
        }
        raw.notOffered[feature] = lacking;
        runs = systems.filter((s) => support[s].offered);
        if (runs.length < systems.length) {
          progress(`${id}: not offered by ${systems.filter((s) => !runs.includes(s)).join(', ')}`);
        }
      }
      // Timed runs measure one system at a time. A smoke run times nothing, so it runs a
      // few systems at once to stay well inside CI's two minutes.
      // A failure ends the run once the systems in flight have finished, so that none of
      // them loses its database or processes under it.
      let failure: { err: unknown } | undefined;
      await runConcurrently(
        runs.length,
        options.mode === 'smoke' ? SMOKE_PARALLEL : 1,
        async (k) => {
          if (failure) return;
          const s = runs[k] as SystemName;
          background[`${id}/${s}`] = await quiet();
          try {
            (raw[id] as Partial<Record<SystemName, T>>)[s] = await step(
              id,
              s,
              () => fn(ctx, s),
              describe,
            );
          } catch (err) {
            failure ??= { err };
          }
        },
      );
      if (failure) throw failure.err;
    };
    // Scenarios that share nothing run one after the other, except in a smoke run, which
    // times nothing and runs them at once to stay inside CI's two minutes. Every one of them
    // finishes before the first failure is thrown, as in `each`.
    const together = async (scenarios: Array<() => Promise<void>>): Promise<void> => {
      if (options.mode !== 'smoke') {
        for (const run of scenarios) await run();
        return;
      }
      const ended = await Promise.allSettled(scenarios.map((run) => run()));
      const failed = ended.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    };
    const rate = (r: { tasksPerSec: number; tasks: number }): string =>
      `${fmt(r.tasks)} tasks, ${fmt(r.tasksPerSec)} tasks/s`;
    await each('enqueue-bulk', enqueueBulk, rate);
    await each('enqueue-single', enqueueSingle, rate);
    await each(
      'drain',
      drain,
      (r) =>
        `${rate(r)}, lost ${r.lost}, CPU ms/1k tasks: own ${fmt(r.cpuMsPer1000.client ?? NaN)}${byProcess(r.cpuMsPer1000.byProcess)}, datastore ${fmt(r.cpuMsPer1000.datastore ?? NaN)}`,
    );
    await each(
      'latency',
      latency,
      (r) =>
        `p50 ${fmt(r.ackToStart.p50, 1)} ms, p99 ${fmt(r.ackToStart.p99, 1)} ms, max ${fmt(r.ackToStart.max, 1)} ms`,
    );
    await each(
      'scheduled',
      scheduled,
      (r) =>
        `late p50 ${fmt(r.lateness.p50, 1)} ms, p99 ${fmt(r.lateness.p99, 1)} ms, max ${fmt(r.lateness.max, 1)} ms, early ${r.early}`,
    );
    await each(
      'scale',
      scale,
      (r) =>
        `${fmt(r.small.backlog)}: ${fmt(r.small.tasksPerSec)}/s, ${fmt(r.large.backlog)}: ${fmt(r.large.tasksPerSec)}/s ` +
        `(×${r.ratio.toFixed(2)})${r.large.dispatcherRssMb === null ? '' : `, RSS ${fmt(r.large.dispatcherRssMb)} MB`}`,
    );
    const joined = (r: WorkflowResult): string =>
      `${fmt(r.size)} × ${r.rounds.length}: submit → done ${fmt(r.median.totalMs)} ms, ` +
      `fan-in ${fmt(r.median.fanInMs, 1)} ms, ${fmt(r.median.perSec)}/s, ` +
      `CPU ms/1k: own ${fmt(r.cpuMsPer1000.client ?? NaN)}, datastore ${fmt(r.cpuMsPer1000.datastore ?? NaN)}`;
    await together([
      () => each('fanout', fanout, joined, 'fanout'),
      () => each('dag', dag, joined, 'dag'),
    ]);
    const priced = (r: FeatureCostResult): string =>
      `plain ${fmt(r.plainTasksPerSec)}/s, ${r.variant} ${fmt(r.featureTasksPerSec)}/s ` +
      `(×${r.ratio.toFixed(2)}; CPU ×${r.cpuRatio === null ? '?' : r.cpuRatio.toFixed(2)}), ` +
      `lost ${[...r.plain, ...r.feature].reduce((n, d) => n + d.lost, 0)}`;
    await together(
      (['routing', 'ratelimit', 'groups'] as const).map(
        (id) => () => each(id, (c, s) => featureCost(c, s, id), priced, id),
      ),
    );
    if (only.has('ceiling')) {
      background['ceiling'] = await quiet();
      raw.ceiling = await step(
        'ceiling',
        'raw SQL',
        () => ceiling(ctx),
        (r) => `${fmt(r.tasks)} tasks, ${fmt(r.tasksPerSec)} tasks/s`,
      );
    }
    const results: BenchResults = {
      mode: options.mode,
      environment,
      sizes,
      setups: await describeSetups(systems),
      systems,
      skipped,
      features,
      rows: buildRows(raw, systems),
      backgroundCpu: background,
      raw,
      seconds: (Date.now() - t0) / 1000,
    };
    // Smoke figures mean nothing: they never replace the results in bench/results.
    const out =
      options.outDir !== undefined
        ? options.outDir
        : options.mode === 'smoke'
          ? join(tmpdir(), 'taskq-bench-smoke')
          : DEFAULT_OUT_DIR;
    if (out !== null) writeResults(out, results);
    progress(`done in ${fmt(results.seconds, 1)} s`);
    return results;
  } finally {
    killAll();
    await db.close();
  }
}

/**
 * The requested peers that cannot run here, and why. A full or quick run installs
 * bench/peers on first use and insists on Redis for BullMQ on Redis; a smoke run (CI's)
 * downloads nothing and skips what is missing, and says so.
 * @throws Error outside smoke runs when Redis does not answer, or the install fails.
 */
async function unavailablePeers(
  requested: readonly SystemName[],
  mode: BenchMode,
): Promise<Partial<Record<SystemName, string>>> {
  const skipped: Partial<Record<SystemName, string>> = {};
  const peers = requested.filter((s): s is PeerName => s !== 'taskq');
  const needs = peers.map((p) => [p, peerNeeds(PEERS[p])] as const);
  if (needs.some(([, n]) => n.peersInstall) && !peersInstalled()) {
    if (mode === 'smoke') {
      for (const [p, n] of needs) {
        if (n.peersInstall) {
          skipped[p] =
            'bench/peers is not installed (a smoke run downloads nothing; any other run installs it)';
        }
      }
    } else {
      await ensurePeersInstalled();
    }
  }
  const redisPeers = needs.filter(([p, n]) => n.redis && !(p in skipped)).map(([p]) => p);
  if (redisPeers.length > 0 && !(await redisReachable())) {
    if (mode !== 'smoke') {
      throw new Error(
        `no Redis answers at ${REDIS_URL} (BENCH_REDIS_URL): start one, or leave ${redisPeers.join(', ')} out with --systems`,
      );
    }
    for (const p of redisPeers) skipped[p] = `no Redis answers at ${REDIS_URL}`;
  }
  return skipped;
}

/** How each system ran: versions, Node, processes and settings, with their sources. */
async function describeSetups(systems: readonly SystemName[]): Promise<Record<string, unknown>> {
  const nodeVersions = new Map<string, string>();
  const nodeOf = (binary: string): string => {
    let v = nodeVersions.get(binary);
    if (v === undefined) {
      v =
        binary === process.execPath
          ? process.versions.node
          : execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '');
      nodeVersions.set(binary, v);
    }
    return v;
  };
  const out: Record<string, unknown> = {};
  for (const s of systems) {
    if (s === 'taskq') {
      out[s] = {
        version: (
          JSON.parse(readFileSync(join(PROJECT_DIR, 'package.json'), 'utf8')) as { version: string }
        ).version,
        node: process.versions.node,
        ...TASKQ_SETUP,
        note: 'separate coordinator and worker processes over gRPC; coordinator defaults',
        keeps: 'every task row (status, result, timestamps) and one task_attempts row per attempt',
      };
      continue;
    }
    const spec = PEERS[s];
    out[s] = {
      package: spec.pkg,
      version: peerVersion(s),
      node: nodeOf(peerNodeBinary(spec.node)),
      ...(spec.backend ? { backend: spec.backend } : {}),
      ...(spec.backend === 'redis' ? { redis: await redisVersion() } : {}),
      workerProcesses: spec.workerProcesses,
      settings: spec.settings,
      source: spec.source,
      keeps: spec.keeps,
    };
  }
  return out;
}

function writeResults(dir: string, r: BenchResults): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, 'latest.md'), toMarkdown(r));
  writeFileSync(join(dir, 'chart.svg'), toSvg(r));
  progress(`wrote ${join(dir, 'latest.json')}, latest.md and chart.svg`);
}

async function describeEnvironment(pool: pg.Pool): Promise<RunEnvironment> {
  const { rows } = await pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return '';
    }
  };
  return {
    date: new Date().toISOString(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.versions.node,
    postgres: rows[0]?.v ?? 'unknown',
    // A build named by TASKQ_BENCH_CLI says its own commit in TASKQ_BENCH_COMMIT.
    commit: process.env.TASKQ_BENCH_CLI
      ? (process.env.TASKQ_BENCH_COMMIT ?? 'external build')
      : git('rev-parse', 'HEAD') || 'unknown',
    dirtySrc: process.env.TASKQ_BENCH_CLI
      ? false
      : git('status', '--porcelain', '--', 'src') !== '',
  };
}

/** " (coordinator 40, worker-1 20, …)" from a drain's per-process CPU, or "". */
function byProcess(cpu: Record<string, number | null> | undefined): string {
  if (!cpu) return '';
  const parts = Object.entries(cpu).map(([name, ms]) => `${name} ${fmt(ms ?? NaN)}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}
