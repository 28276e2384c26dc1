import type { SystemName } from '../lib/options.js';
import { perSecond } from '../lib/stats.js';
import { runConcurrently } from '../lib/timing.js';
import type { TaskSpec } from '../systems/types.js';
import { withSession, type RunContext } from './context.js';

/** Throughput of adding tasks. */
export interface EnqueueResult {
  tasks: number;
  ms: number;
  tasksPerSec: number;
  /** Tasks the database holds afterwards (must equal `tasks`). */
  stored: number;
}

/** Bulk requests in flight at once: one per core. */
const BULK_IN_FLIGHT = 2;

/**
 * Scenario 1: N no-op tasks through each system's bulk path, in chunks (5000 per request,
 * our batch route's limit), two chunks in flight.
 */
export function enqueueBulk(ctx: RunContext, system: SystemName): Promise<EnqueueResult> {
  const { bulkTasks: n, bulkChunk } = ctx.sizes;
  return withSession(ctx, system, 'bulk', { producer: true, workers: null }, async (s) => {
    const chunks: TaskSpec[][] = [];
    for (let i = 0; i < n; i += bulkChunk) {
      chunks.push(
        Array.from({ length: Math.min(bulkChunk, n - i) }, (_, k) => ({
          handler: 'noop' as const,
          i: i + k,
        })),
      );
    }
    const t0 = performance.now();
    await runConcurrently(chunks.length, BULK_IN_FLIGHT, (c) => s.addBulk(chunks[c] ?? []));
    const ms = performance.now() - t0;
    const stored = await s.unfinishedCount();
    if (stored !== n) throw new Error(`${system}: stored ${stored} of ${n} tasks`);
    return { tasks: n, ms, tasksPerSec: perSecond(n, ms), stored };
  });
}

/** Scenario 2: N tasks added one call at a time by `singleConcurrency` concurrent callers. */
export function enqueueSingle(ctx: RunContext, system: SystemName): Promise<EnqueueResult> {
  const { singleTasks: n, singleConcurrency } = ctx.sizes;
  return withSession(ctx, system, 'single', { producer: true, workers: null }, async (s) => {
    // A few calls first so connections and prepared statements exist before the clock runs.
    await runConcurrently(singleConcurrency, singleConcurrency, (i) =>
      s.addOne({ handler: 'noop', i: n + i }),
    );
    const t0 = performance.now();
    await runConcurrently(n, singleConcurrency, (i) => s.addOne({ handler: 'noop', i }));
    const ms = performance.now() - t0;
    const stored = (await s.unfinishedCount()) - singleConcurrency;
    if (stored !== n) throw new Error(`${system}: stored ${stored} of ${n} tasks`);
    return { tasks: n, ms, tasksPerSec: perSecond(n, ms), stored };
  });
}
