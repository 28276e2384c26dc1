import { monotonicMs, type MonotonicClock } from '../../lib/clock.js';
import { RateLimitedError } from '../../lib/errors.js';

/**
 * Token buckets, one per caller (token id, or address when anonymous): `perSecond`
 * requests a second on average, bursts up to twice that. Time is monotonic, so a wall
 * clock stepped backwards cannot refill or freeze a bucket.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly defaultPerSecond: number | null,
    private readonly clock: MonotonicClock = monotonicMs,
  ) {}

  /**
   * Takes one request from `key`'s bucket.
   * @throws RateLimitedError with the seconds to wait when the bucket is empty.
   */
  take(key: string, perSecond: number | null = null): void {
    const rate = perSecond ?? this.defaultPerSecond;
    if (!rate) return;
    const b = this.refill(key, rate);
    if (b.tokens < 1) throw limited(rate, b.tokens);
    b.tokens -= 1;
  }

  /**
   * Throws as {@link take} would, without taking anything: for a check made before costly
   * work whose outcome decides whether the request is charged.
   */
  check(key: string, perSecond: number | null = null): void {
    const rate = perSecond ?? this.defaultPerSecond;
    if (!rate || !this.buckets.has(key)) return;
    const b = this.refill(key, rate);
    if (b.tokens < 1) throw limited(rate, b.tokens);
  }

  private refill(key: string, rate: number): { tokens: number; at: number } {
    const burst = rate * 2;
    const now = this.clock();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= 50_000) this.buckets.clear();
      this.buckets.set(key, (b = { tokens: burst, at: now }));
    }
    b.tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.at) / 1000) * rate);
    b.at = now;
    return b;
  }
}

function limited(rate: number, tokens: number): RateLimitedError {
  const wait = Math.max(1, Math.ceil((1 - tokens) / rate));
  return new RateLimitedError(
    `rate limit of ${rate} requests per second exceeded; retry after ${wait} s`,
    wait,
  );
}
