import type { Queue, RateLimit } from '../client/index.js';
import { UsageError } from './client-options.js';

/**
 * The flags and columns of routing, rate limits and fair share: `--rate-limit 10/1s`,
 * `--group-weights a=3,b=1`, `--requires gpu=true`, and how a queue's limits read in a table.
 */

/** The bounds the API takes (src/api/schemas/admin.ts), checked here to name the flag. */
const RATE_COUNT_MAX = 1_000_000;
const RATE_PERIOD_MAX_MS = 86_400_000;
const GROUP_WEIGHT_MAX = 1000;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** `10/s`, `10/1s`, `100/1m`, `5/500ms`, `3/2h`, `1/d`. */
const RATE = /^(\d+)\/(\d*)(ms|s|m|h|d)$/;

/**
 * A rate limit flag: `count/period` (`10/s`, `100/1m`, `5/500ms`), or `none` to lift it.
 * @throws UsageError naming the flag and what to type.
 */
export function rateLimitFlag(
  value: string | undefined,
  flag: string,
): RateLimit | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return null;
  const m = RATE.exec(value.trim());
  const how = `${flag} takes starts/period, such as 10/s, 100/1m or 5/500ms, or none to lift it (got "${value}")`;
  if (!m) throw new UsageError(how);
  const count = Number(m[1]);
  const period = (m[2] === '' ? 1 : Number(m[2])) * (UNIT_MS[m[3] ?? ''] ?? 1);
  if (count < 1 || count > RATE_COUNT_MAX)
    throw new UsageError(`${flag}: the count must be from 1 to ${RATE_COUNT_MAX} (got "${value}")`);
  if (period < 1 || period > RATE_PERIOD_MAX_MS)
    throw new UsageError(`${flag}: the period must be from 1ms to 1d (got "${value}")`);
  return { count, period_ms: period };
}

/**
 * `name=value` pairs, comma-separated or from a repeated flag, in order.
 * @throws UsageError naming the flag when a pair has no `=` or no name.
 */
function pairsOf(items: string[], flag: string, example: string): Array<[string, string]> {
  return items
    .flatMap((i) => i.split(','))
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 1)
        throw new UsageError(`${flag} takes name=value, such as ${example} (got "${pair}")`);
      return [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
    });
}

/**
 * A group weights flag: `gold=3,free=1` (each weight 1 to 1000), or `none` for all 1.
 * @throws UsageError naming the flag and what to type.
 */
export function groupWeightsFlag(
  value: string | undefined,
  flag: string,
): Record<string, number> | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return null;
  const weights: Record<string, number> = {};
  for (const [group, w] of pairsOf([value], flag, 'gold=3,free=1')) {
    const n = Number(w);
    if (w === '' || !Number.isInteger(n) || n < 1 || n > GROUP_WEIGHT_MAX)
      throw new UsageError(
        `${flag}: the weight of ${group} must be a whole number from 1 to ${GROUP_WEIGHT_MAX} (got "${w}")`,
      );
    weights[group] = n;
  }
  return weights;
}

/**
 * A repeated `--requires name=value` flag as the labels a task requires (a value may be
 * empty; a comma separates pairs).
 * @throws UsageError naming the flag when a pair has no `=`.
 */
export function labelsFlag(
  values: string[] | undefined,
  flag: string,
): Record<string, string> | undefined {
  if (!values) return undefined;
  return Object.fromEntries(pairsOf(values, flag, 'gpu=true'));
}

/** A period in the flag's own terms: `1s`, `1m`, `500ms`. */
function periodText(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] ?? 1;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A rate limit as `--rate-limit` takes it: `10/1s`. */
export function rateLimitText(r: RateLimit): string {
  return `${r.count}/${periodText(r.period_ms)}`;
}

/** The rate limits: `-` for none, else the queue's and the per-key one (`10/1s, 2/1m per key`). */
export function rateText(q: Pick<Queue, 'rate_limit' | 'key_rate_limit'>): string {
  const key = q.key_rate_limit ? `${rateLimitText(q.key_rate_limit)} per key` : '';
  if (!q.rate_limit) return key || '-';
  return key ? `${rateLimitText(q.rate_limit)}, ${key}` : rateLimitText(q.rate_limit);
}

/** Group weights as `--group-weights` takes them, by name (`free=1,gold=3`), or `-`. */
export function weightsText(q: Pick<Queue, 'group_weights'>): string {
  const entries = Object.entries(q.group_weights ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length ? entries.map(([g, w]) => `${g}=${w}`).join(',') : '-';
}
