import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
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
import { checkBuild, CLI, killAll } from './lib/processes.js';
import { fmt, progress, step } from './lib/progress.js';
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
import { latency, scheduled } from './scenarios/latency.js';
import { scale } from './scenarios/scale.js';
import { GRAPHILE_SETUP } from './systems/graphile.js';
import { PGBOSS_SETUP } from './systems/pgboss.js';
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
  const systems = SYSTEMS.filter((s) => (options.systems ?? SYSTEMS).includes(s));
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
    const each = async <T>(
      id: Exclude<ScenarioId, 'ceiling'>,
      fn: (ctx: RunContext, s: SystemName) => Promise<T>,
      describe: (r: T) => string,
    ): Promise<void> => {
      if (!only.has(id)) return;
      for (const s of systems) {
        background[`${id}/${s}`] = await quiet();
        (raw[id] as Partial<Record<SystemName, T>>)[s] = await step(
          id,
          s,
          () => fn(ctx, s),
          describe,
        );
      }
    };
    const rate = (r: { tasksPerSec: number; tasks: number }): string =>
      `${fmt(r.tasks)} tasks, ${fmt(r.tasksPerSec)} tasks/s`;
    await each('enqueue-bulk', enqueueBulk, rate);
    await each('enqueue-single', enqueueSingle, rate);
    await each(
      'drain',
      drain,
      (r) =>
        `${rate(r)}, lost ${r.lost}, CPU ms/1k tasks: own ${fmt(r.cpuMsPer1000.client ?? NaN)}, postgres ${fmt(r.cpuMsPer1000.postgres ?? NaN)}`,
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
      setups: {
        taskq: {
          ...TASKQ_SETUP,
          note: 'separate coordinator and worker processes over gRPC; coordinator defaults',
        },
        'graphile-worker': GRAPHILE_SETUP,
        'pg-boss': PGBOSS_SETUP,
      },
      systems,
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
