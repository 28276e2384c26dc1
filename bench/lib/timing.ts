/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` every `everyMs` until it returns true.
 * @throws Error naming `what` after `timeoutMs`.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Runs `count` calls of `fn` with at most `concurrency` in flight (a closed loop: each
 * caller starts its next call when the previous one is answered).
 */
export async function runConcurrently(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const caller = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, caller));
}

/**
 * Starts `fn(i)` for i = 0..count-1 at a steady `perSecond` (an open loop: calls start on
 * schedule whether or not earlier ones have been answered), then waits for them all.
 * @returns the calls' results, by index.
 */
export async function runPaced<T>(
  count: number,
  perSecond: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const interval = 1000 / perSecond;
  const t0 = performance.now();
  const calls: Array<Promise<T>> = [];
  while (calls.length < count) {
    const due = Math.min(count, Math.floor((performance.now() - t0) / interval) + 1);
    while (calls.length < due) calls.push(fn(calls.length));
    await sleep(1);
  }
  return Promise.all(calls);
}
