import { postgresCpuMeter, processCpuMeter, type CpuMeter } from '../lib/cpu.js';
import { redisPid } from '../lib/redis.js';
import type { SystemName } from '../lib/options.js';
import { perSecond } from '../lib/stats.js';
import { sleep, waitUntil } from '../lib/timing.js';
import type { DrainVariant, QueueSession } from '../systems/types.js';
import { withSession, type RunContext } from './context.js';

/** How fast a system empties a backlog. */
export interface DrainResult {
  tasks: number;
  /** From the backlog's commit to the last completion. */
  ms: number;
  tasksPerSec: number;
  /** Tasks finished according to the database. */
  done: number;
  /** Tasks neither finished nor pending afterwards: must be 0. */
  lost: number;
  /**
   * CPU time per 1000 tasks during the drain, ms: the system's own processes, and its
   * datastore's server, PostgreSQL or Redis (null when it is not local; on a shared server it
   * counts everyone's work).
   * Unlike throughput, cost hardly moves when other programs load the machine.
   */
  cpuMsPer1000: {
    client: number | null;
    datastore: number | null;
    /** The client figure split by process, where the system runs several. */
    byProcess?: Record<string, number | null>;
  };
}

/**
 * A pause between workers reporting ready and the backlog's arrival, for every system, so
 * that no start-up transient is measured. graphile-worker's local queue, for one, ignores a
 * job announcement that lands in the refetch delay (10 ms in its perfTest preset) after its
 * first, empty fetch, and then finds the jobs by its 2 s poll.
 */
export const SETTLE_MS = 500;

/**
 * Waits until `target` tasks are done, as the database records them. Polls sparingly:
 * counting finished rows is itself work for the server under test, so the next poll comes
 * after about half the time the remaining tasks should take at the rate seen so far. The
 * figures come from completion timestamps, so a late poll costs wall time, not accuracy.
 * @throws Error after `timeoutMs`.
 */
export async function waitForDone(
  s: QueueSession,
  target: number,
  timeoutMs: number,
): Promise<void> {
  const t0 = Date.now();
  const deadline = t0 + timeoutMs;
  for (;;) {
    const n = await s.progressCount();
    if (n >= target) break;
    if (Date.now() > deadline) throw new Error(`timed out: ${n} of ${target} tasks done`);
    const rate = n / Math.max(1, Date.now() - t0);
    const remainingMs = rate > 0 ? (target - n) / rate : 200;
    await sleep(Math.min(2000, Math.max(50, remainingMs / 2)));
  }
  await waitUntil(`${target} tasks done`, async () => (await s.doneCount()) >= target, 30_000);
}

/** A meter of the session's datastore server: PostgreSQL, or Redis for BullMQ on Redis. */
export async function datastoreMeter(ctx: RunContext, s: QueueSession): Promise<CpuMeter> {
  return s.datastore === 'redis'
    ? processCpuMeter(await redisPid())
    : await postgresCpuMeter(ctx.pool);
}

/**
 * CPU ms per 1000 of `n` tasks since `cpu0`, in the session's own processes (in all, and by
 * process where the session tells them apart) and in its datastore's server; null where one
 * cannot be read.
 */
function cpuPer1000(
  cpu0: {
    client: number | null;
    datastore: number | null;
    byProcess?: Record<string, number | null> | undefined;
  },
  s: QueueSession,
  meter: CpuMeter,
  n: number,
): DrainResult['cpuMsPer1000'] {
  const per1000 = (a: number | null, b: number | null): number | null =>
    a === null || b === null ? null : ((b - a) * 1000) / n;
  const result: DrainResult['cpuMsPer1000'] = {
    client: per1000(cpu0.client, s.clientCpuMs()),
    datastore: per1000(cpu0.datastore, meter.read()),
  };
  const byProcess1 = s.clientCpuMsByProcess?.();
  if (cpu0.byProcess && byProcess1) {
    const before = cpu0.byProcess;
    result.byProcess = Object.fromEntries(
      Object.keys(byProcess1).map((k) => [k, per1000(before[k] ?? null, byProcess1[k] ?? null)]),
    );
  }
  return result;
}

/**
 * Scenario 3: N no-op tasks appear at once (one committed transaction) while every
 * system's workers are up and idle; measured to the last completion in the database. A
 * `variant` other than plain prices a feature (bench/scenarios/feature-cost.ts).
 */
export function drain(
  ctx: RunContext,
  system: SystemName,
  variant: DrainVariant = 'plain',
): Promise<DrainResult> {
  const n = ctx.sizes.drainTasks;
  const tag = variant === 'plain' ? 'drain' : `drain_${variant}`;
  const roles = { producer: false, workers: 'noop', variant } as const;
  return withSession(ctx, system, tag, roles, async (s) => {
    await s.startWorkers();
    await sleep(SETTLE_MS);
    const dsCpu = await datastoreMeter(ctx, s);
    await s.loadBacklog(n);
    const t0 = Date.now();
    const cpu0 = {
      client: s.clientCpuMs(),
      datastore: dsCpu.read(),
      byProcess: s.clientCpuMsByProcess?.(),
    };
    await waitForDone(s, n, 120_000 + n * 5);
    const cpuMsPer1000 = cpuPer1000(cpu0, s, dsCpu, n);
    const times = await s.completionTimes();
    const last = times[times.length - 1] ?? Date.now();
    const done = await s.doneCount();
    const unfinished = await s.unfinishedCount();
    const ms = last - t0;
    return {
      tasks: n,
      ms,
      tasksPerSec: perSecond(n, ms),
      done,
      lost: n - done - unfinished,
      cpuMsPer1000,
    };
  });
}
