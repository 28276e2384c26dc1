import type { SystemName } from '../lib/options.js';
import { distribution, type Distribution } from '../lib/stats.js';
import { runPaced } from '../lib/timing.js';
import { waitForDone } from './drain.js';
import { withSession, type RunContext } from './context.js';

/** Submit-to-start latency at a steady rate. */
export interface LatencyResult {
  tasks: number;
  rate: number;
  /** From the submit call's acknowledgement to the handler's start, ms. */
  ackToStart: Distribution;
  /** From the submit call's start to the handler's start, ms. */
  sendToStart: Distribution;
}

/** How late handlers start against run_at. */
export interface ScheduledResult {
  tasks: number;
  spreadMs: number;
  /** Handler start minus run_at, ms, over every task (early ones are negative). */
  lateness: Distribution;
  /** Tasks whose handler started before their run_at: must be 0. */
  early: number;
}

/**
 * Unmeasured tasks sent first at the same pace (one second's worth), for every system, so
 * connections, plans and the JIT are warm: the peers run inside the bench process, which
 * earlier scenarios warmed, while our processes start fresh for each scenario. With 50, our
 * first second of interpreted code showed as p50 7 ms / p99 38 ms instead of 2 / 11.
 */
const WARMUP = 500;

/**
 * Scenario 4: tasks submitted one by one at a steady rate (an open loop) while workers
 * idle; each handler records Date.now() when it starts, on this machine's clock.
 */
export function latency(ctx: RunContext, system: SystemName): Promise<LatencyResult> {
  const { latencyTasks: n, latencyRate: rate } = ctx.sizes;
  return withSession(ctx, system, 'lat', { producer: true, workers: 'stamp' }, async (s) => {
    await s.startWorkers();
    const total = WARMUP + n;
    const sent: number[] = new Array<number>(total).fill(0);
    const acked: number[] = new Array<number>(total).fill(0);
    await runPaced(total, rate, async (i) => {
      sent[i] = Date.now();
      await s.addOne({ handler: 'stamp', i });
      acked[i] = Date.now();
    });
    await waitForDone(s, total, 60_000);
    const starts = await s.handlerStarts();
    const ack: number[] = [];
    const send: number[] = [];
    for (let i = WARMUP; i < total; i++) {
      const start = starts.get(i);
      if (start === undefined) throw new Error(`${system}: task ${i} has no start time`);
      ack.push(start - (acked[i] ?? 0));
      send.push(start - (sent[i] ?? 0));
    }
    return { tasks: n, rate, ackToStart: distribution(ack), sendToStart: distribution(send) };
  });
}

/**
 * Scenario 5: tasks added in bulk with run_at spread evenly over a window that opens after
 * a short lead; handler start minus run_at, on this machine's clock.
 */
export function scheduled(ctx: RunContext, system: SystemName): Promise<ScheduledResult> {
  const { scheduledTasks: n, scheduledSpreadMs: spread } = ctx.sizes;
  const leadMs = ctx.mode === 'smoke' ? 1000 : 2000;
  return withSession(ctx, system, 'sched', { producer: true, workers: 'stamp' }, async (s) => {
    await s.startWorkers();
    const base = Date.now() + leadMs;
    const runAt = Array.from({ length: n }, (_, i) => base + Math.round((i * spread) / n));
    for (let i = 0; i < n; i += ctx.sizes.bulkChunk) {
      const chunk = runAt.slice(i, i + ctx.sizes.bulkChunk);
      await s.addBulk(chunk.map((t, k) => ({ handler: 'stamp' as const, i: i + k, runAt: t })));
    }
    if (Date.now() > base) throw new Error(`${system}: adding took longer than the lead`);
    await waitForDone(s, n, spread + leadMs + 60_000);
    const starts = await s.handlerStarts();
    const late = runAt.map((t, i) => {
      const start = starts.get(i);
      if (start === undefined) throw new Error(`${system}: task ${i} has no start time`);
      return start - t;
    });
    return {
      tasks: n,
      spreadMs: spread,
      lateness: distribution(late),
      early: late.filter((d) => d < 0).length,
    };
  });
}
