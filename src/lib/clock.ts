/**
 * Estimates another clock (the database's) relative to ours from round trips, as NTP does:
 * each sample's error is at most half its round trip, so the estimate comes from the sample
 * with the shortest round trip among the recent ones. Under load one slow round trip would
 * otherwise move the estimate by tens of milliseconds, and with it every timer armed from it.
 */
export class ClockOffset {
  private samples: Array<{ at: number; offset: number; rtt: number }> = [];

  constructor(
    /** Samples older than this are forgotten, so a drifting clock is followed. */
    private readonly windowMs = 60_000,
    private readonly maxSamples = 32,
  ) {}

  /**
   * Records one round trip: our clock when the query was sent and when its answer came
   * back, and the other clock read in between.
   */
  add(sentMs: number, receivedMs: number, remoteMs: number): void {
    const rtt = Math.max(0, receivedMs - sentMs);
    this.samples.push({ at: receivedMs, offset: remoteMs - (sentMs + receivedMs) / 2, rtt });
    const oldest = receivedMs - this.windowMs;
    while (
      this.samples.length > this.maxSamples ||
      (this.samples.length > 1 && (this.samples[0]?.at ?? 0) < oldest)
    )
      this.samples.shift();
  }

  /** The other clock minus ours, in ms; 0 before any sample. */
  get ms(): number {
    let best: { offset: number; rtt: number } | undefined;
    for (const s of this.samples) if (!best || s.rtt < best.rtt) best = s;
    return best?.offset ?? 0;
  }
}

/**
 * Milliseconds on a clock that only moves forward (not the wall clock): for every cache and
 * timer that guards access, so a clock stepped backwards cannot keep a stale answer alive.
 * Passed in as a function, so tests can drive it.
 */
export type MonotonicClock = () => number;

/** The process's monotonic clock. */
export const monotonicMs: MonotonicClock = () => performance.now();
