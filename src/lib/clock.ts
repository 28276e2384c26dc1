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

/**
 * Node's timers take at most 2^31 − 1 ms (about 24.8 days): a longer delay fires after 1 ms.
 * Whoever arms a timer from a far-off instant (a task due in a month) clamps to this and
 * looks again when it fires.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer armed on a {@link Clock}. */
export interface Timer {
  /** Disarms the timer; harmless once it fired. */
  clear(): void;
}

/**
 * Where a long-running part takes its time from, so a unit test can drive it without
 * waiting. Two kinds of time, never mixed:
 *
 * - **Wall-clock** ({@link Clock.now}): epoch ms, comparable with other machines and with the
 *   database. For due times of tasks, cron ticks, and anything stored or read as a timestamp.
 *   It can jump (NTP, an operator), so never measure an interval with it.
 * - **Monotonic** ({@link Clock.monotonic} and every timer): ms from an arbitrary origin that
 *   only moves forward. For intervals, timeouts, backoff and caches.
 *
 * A due time becomes a timer by subtracting the wall clock once, when the timer is armed.
 */
export interface Clock {
  /** Wall-clock time, epoch ms. */
  now(): number;
  /** Monotonic time, ms. */
  monotonic(): number;
  /**
   * Calls `fn` once, `ms` of monotonic time from now. As with Node's timers, a delay below 1
   * or above {@link MAX_TIMER_MS} fires after 1 ms, so callers clamp. The timer does not keep
   * the process alive unless `keepAlive` (a retry that must finish before the process exits).
   */
  setTimeout(fn: () => void, ms: number, options?: { keepAlive?: boolean }): Timer;
}

/** The process's clocks: `Date.now()`, `performance.now()` and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: monotonicMs,
  setTimeout(fn, ms, options) {
    const timer = setTimeout(fn, ms);
    if (!options?.keepAlive) timer.unref();
    return { clear: () => clearTimeout(timer) };
  },
};

/**
 * Resolves after `ms` on `clock`, or early (without error) when `signal` aborts.
 * The wait keeps the process alive, as `lib/time.ts`'s `sleep` does.
 */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = clock.setTimeout(wake, ms, { keepAlive: true });
    signal?.addEventListener('abort', wake, { once: true });
    function wake(): void {
      timer.clear();
      signal?.removeEventListener('abort', wake);
      resolve();
    }
  });
}
