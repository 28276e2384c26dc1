import { RateLimitedError } from '../lib/errors.js';

/**
 * Token buckets, one per caller (token id, or address when anonymous): `perSecond`
 * requests a second on average, bursts up to twice that.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly defaultPerSecond: number | null) {}

  /**
   * Takes one request from `key`'s bucket.
   * @throws RateLimitedError with the seconds to wait when the bucket is empty.
   */
  take(key: string, perSecond: number | null): void {
    const rate = perSecond ?? this.defaultPerSecond;
    if (!rate) return;
    const burst = rate * 2;
    const now = Date.now();
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    if (b.tokens < 1) {
      this.buckets.set(key, b);
      const wait = Math.max(1, Math.ceil((1 - b.tokens) / rate));
      throw new RateLimitedError(
        `rate limit of ${rate} requests per second exceeded; retry after ${wait} s`,
        wait,
      );
    }
    b.tokens -= 1;
    this.buckets.set(key, b);
    if (this.buckets.size > 50_000) this.buckets.clear();
  }
}
