import { sleep } from '../../lib/time.js';
import type { Handler } from '../types.js';
import { NonRetryableError } from '../types.js';

/** `echo hi there` → `{ message: "hi there", args: ["hi", "there"], payload }`. */
export const echo: Handler = (payload, ctx) => ({
  message: ctx.args.join(' '),
  args: ctx.args,
  payload,
});

/**
 * `sleep 500`, or `sleep` with `{"ms": 500}`: waits, then returns `{ slept_ms }`.
 * Ends early, as a failure, when the task's signal aborts.
 */
export const sleepHandler: Handler = async (payload, ctx) => {
  const fromPayload =
    typeof payload === 'object' && payload !== null ? (payload as { ms?: unknown }).ms : undefined;
  const ms = Number(fromPayload ?? ctx.args[0] ?? 0);
  if (!Number.isFinite(ms) || ms < 0 || ms > 86_400_000) {
    throw new NonRetryableError(
      'sleep needs a duration in ms from 0 to 86400000: `sleep 500` or payload {"ms": 500}',
    );
  }
  await sleep(ms, ctx.signal);
  ctx.signal.throwIfAborted();
  return { slept_ms: ms };
};

/** The handlers every worker serves unless told not to. */
export const BUILTIN_HANDLERS: Record<string, Handler> = { echo, sleep: sleepHandler };
