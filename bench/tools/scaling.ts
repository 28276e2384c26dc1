import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fmt, progress } from '../lib/progress.js';
import type { BenchResults } from '../report/model.js';
import {
  scalingMarkdown,
  scalingSvg,
  type ScalingPoint,
  type ScalingRun,
} from '../report/scaling.js';
import { DEFAULT_OUT_DIR } from '../runner.js';

/**
 * The drain rate as coordinators and worker processes are added:
 *
 *   npm run bench:scaling -- [--tasks 50000] [--repeat 3] [--coordinators 1,2] [--workers 1,2,4,6]
 *
 * Each point is a separate `npm run bench -- --only drain --systems taskq` (fresh schema,
 * fresh processes, after the machine is quiet) with BENCH_TASKQ_COORDINATORS and
 * BENCH_TASKQ_WORKERS set; repeats are interleaved so that drift spreads over every point,
 * and the median counts. The raw SQL ceiling is measured once at the end. Writes
 * bench/results/scaling.{json,md,svg}.
 */
const RUN = fileURLToPath(new URL('../run.ts', import.meta.url));
const run = promisify(execFile);

interface Args {
  tasks: number;
  repeat: number;
  coordinators: number[];
  workers: number[];
}

function parse(argv: string[]): Args {
  const args: Args = { tasks: 50_000, repeat: 3, coordinators: [1, 2], workers: [1, 2, 4, 6] };
  const ints = (flag: string, text: string | undefined): number[] => {
    const out = (text ?? '').split(',').map(Number);
    if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n <= 0)) {
      throw new Error(`${flag} takes positive whole numbers, comma-separated (e.g. ${flag} 1,2)`);
    }
    return out;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = argv[++i];
    if (a === '--tasks') args.tasks = ints(a, v)[0] as number;
    else if (a === '--repeat') args.repeat = ints(a, v)[0] as number;
    else if (a === '--coordinators') args.coordinators = ints(a, v);
    else if (a === '--workers') args.workers = ints(a, v);
    else throw new Error(`unknown argument ${a}; see the comment at the top of ${RUN}`);
  }
  return args;
}

/** Runs the bench once in a child process and returns what it wrote. */
async function bench(flags: string[], env: Record<string, string>): Promise<BenchResults> {
  const out = mkdtempSync(join(tmpdir(), 'taskq-scaling-'));
  try {
    await run(
      process.execPath,
      ['--import', 'tsx', RUN, '--systems', 'taskq', '--out', out, ...flags],
      {
        env: { ...process.env, ...env },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    return JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchResults;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const shapes = args.coordinators.flatMap((c) => args.workers.map((w) => ({ c, w })));
  const runs = new Map<string, ScalingRun[]>();
  const total = shapes.length * args.repeat;
  let done = 0;
  for (let r = 0; r < args.repeat; r++) {
    for (const { c, w } of shapes) {
      const res = await bench(['--only', 'drain', '--drain-tasks', String(args.tasks)], {
        BENCH_TASKQ_COORDINATORS: String(c),
        BENCH_TASKQ_WORKERS: String(w),
      });
      const d = res.raw.drain.taskq;
      if (!d) throw new Error(`no drain result for ${c} coordinators, ${w} workers`);
      if (d.lost !== 0)
        throw new Error(`${d.lost} tasks lost with ${c} coordinators, ${w} workers`);
      const key = `${c}/${w}`;
      runs.set(key, [
        ...(runs.get(key) ?? []),
        {
          tasksPerSec: d.tasksPerSec,
          ownCpuMsPer1000: d.cpuMsPer1000.client,
          pgCpuMsPer1000: d.cpuMsPer1000.datastore,
        },
      ]);
      done++;
      progress(
        `[${done}/${total}] ${c} coordinator(s), ${w} worker(s): ${fmt(d.tasksPerSec)} tasks/s, CPU ms/1k own ${fmt(d.cpuMsPer1000.client ?? NaN)}, postgres ${fmt(d.cpuMsPer1000.datastore ?? NaN)}`,
      );
    }
  }
  progress('raw SQL ceiling…');
  const ceiling = (await bench(['--only', 'ceiling'], {})).raw.ceiling;
  const points: ScalingPoint[] = shapes.map(({ c, w }) => {
    const rs = runs.get(`${c}/${w}`) ?? [];
    const nums = (xs: Array<number | null>): number[] => xs.filter((x): x is number => x !== null);
    return {
      coordinators: c,
      workers: w,
      tasksPerSec: median(rs.map((x) => x.tasksPerSec)),
      ownCpuMsPer1000: median(nums(rs.map((x) => x.ownCpuMsPer1000))),
      pgCpuMsPer1000: median(nums(rs.map((x) => x.pgCpuMsPer1000))),
      runs: rs,
    };
  });
  const result = {
    date: new Date().toISOString(),
    tasks: args.tasks,
    repeat: args.repeat,
    concurrencyPerWorker: Number(process.env.BENCH_TASKQ_CONCURRENCY) || 200,
    ceilingTasksPerSec: ceiling?.tasksPerSec ?? null,
    points,
  };
  mkdirSync(DEFAULT_OUT_DIR, { recursive: true });
  writeFileSync(join(DEFAULT_OUT_DIR, 'scaling.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(DEFAULT_OUT_DIR, 'scaling.md'), scalingMarkdown(result));
  writeFileSync(join(DEFAULT_OUT_DIR, 'scaling.svg'), scalingSvg(result));
  process.stdout.write(scalingMarkdown(result));
  progress(`wrote ${join(DEFAULT_OUT_DIR, 'scaling.json')}, scaling.md and scaling.svg`);
}

main().catch((err: unknown) => {
  process.stderr.write(`scaling failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
