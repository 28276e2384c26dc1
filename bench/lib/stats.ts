/** Percentiles and extremes of a sample, in its own unit. */
export interface Distribution {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * Summarises `values` with nearest-rank percentiles.
 * @throws Error for an empty sample: a scenario that measured nothing is a bug.
 */
export function distribution(values: readonly number[]): Distribution {
  if (values.length === 0) throw new Error('no samples');
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
  return {
    count: sorted.length,
    min: sorted[0] as number,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted[sorted.length - 1] as number,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}

/** Items per second for `count` items over `ms` milliseconds (at least 1 ms). */
export function perSecond(count: number, ms: number): number {
  return (count * 1000) / Math.max(1, ms);
}

/**
 * The completion rate between the `from`-th and `to`-th completion (1-based ranks) of a
 * sorted list of completion times in ms: a steady-state window that leaves out start-up
 * and the tail.
 * @throws Error when fewer than `to` completions were recorded.
 */
export function windowRate(sortedTimesMs: readonly number[], from: number, to: number): number {
  const a = sortedTimesMs[from - 1];
  const b = sortedTimesMs[to - 1];
  if (a === undefined || b === undefined) {
    throw new Error(`only ${sortedTimesMs.length} completions; the window needs ${to}`);
  }
  return perSecond(to - from, b - a);
}
