import type { SystemName } from '../lib/options.js';
import { windowRate } from '../lib/stats.js';
import { sleep } from '../lib/timing.js';
import { SETTLE_MS, waitForDone } from './drain.js';
import { withSession, type RunContext } from './context.js';

/** Claim-and-complete throughput with one backlog size. */
export interface BacklogRun {
  backlog: number;
  /** Completions per second between the window's first and last completion. */
  tasksPerSec: number;
  /** Seconds to load the backlog (set-up, not measured). */
  loadSeconds: number;
  /** Peak RSS of the dispatching process during the window, MB; null for in-process peers. */
  dispatcherRssMb: number | null;
}

/** Throughput with a small and a large backlog, and how much it drops. */
export interface ScaleResult {
  /** The completions measured in each run: from rank `from` to rank `to`. */
  window: { from: number; to: number };
  small: BacklogRun;
  large: BacklogRun;
  /** large / small throughput: 1.0 means the backlog costs nothing. */
  ratio: number;
}

/**
 * Scenario 6: the backlog is bulk-loaded with SQL while the workers idle, then the same
 * window of completions (e.g. the 1,000th to the 9,000th of a 10,000 backlog) is timed with
 * a small and with a large backlog. Only the window is processed from the large one.
 */
export async function scale(ctx: RunContext, system: SystemName): Promise<ScaleResult> {
  const [smallN, largeN] = ctx.sizes.scaleBacklogs;
  const [a, b] = ctx.sizes.scaleWindow;
  const window = { from: Math.max(1, Math.floor(smallN * a)), to: Math.floor(smallN * b) };
  const small = await backlogRun(ctx, system, smallN, window);
  const large = await backlogRun(ctx, system, largeN, window);
  return { window, small, large, ratio: large.tasksPerSec / small.tasksPerSec };
}

async function backlogRun(
  ctx: RunContext,
  system: SystemName,
  backlog: number,
  window: { from: number; to: number },
): Promise<BacklogRun> {
  return withSession(ctx, system, 'scale', { producer: false, workers: 'noop' }, async (s) => {
    await s.startWorkers();
    await sleep(SETTLE_MS);
    const t0 = performance.now();
    await s.loadBacklog(backlog);
    const loadSeconds = (performance.now() - t0) / 1000;
    let peak = s.dispatcherRss();
    const sampler = setInterval(() => {
      const rss = s.dispatcherRss();
      if (rss !== null) peak = Math.max(peak ?? 0, rss);
    }, 100);
    try {
      await waitForDone(s, window.to, 120_000 + window.to * 5);
    } finally {
      clearInterval(sampler);
    }
    const times = await s.completionTimes();
    return {
      backlog,
      tasksPerSec: windowRate(times, window.from, window.to),
      loadSeconds,
      dispatcherRssMb: peak === null ? null : peak / 1048576,
    };
  });
}
