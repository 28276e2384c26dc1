/**
 * The timings the coordinator derives from its options, each with its reason, so that no
 * bare multiplier sits inside a constructor.
 */

/**
 * A worker not heard from for 2.5 heartbeat intervals gets no new tasks, even while its TCP
 * stream is open: one late heartbeat is load, two in a row can still be, and a third means
 * the process is stalled (SIGSTOP, a blocked event loop). Without this a paused worker kept
 * receiving the tasks the reaper had just taken from it.
 */
export function silentAfterMs(heartbeatMs: number): number {
  return heartbeatMs * 2.5;
}

/**
 * When a worker's stream closes, its leases are cut to max(2 × heartbeat, lease ÷ 2): a
 * dropped stream may be a blip, and a worker that reconnects within that time heartbeats its
 * leases back; one that crashed frees its tasks in about half a lease instead of a whole one.
 */
export function leaseCutOnDisconnectMs(heartbeatMs: number, leaseMs: number): number {
  return Math.max(heartbeatMs * 2, leaseMs / 2);
}

/**
 * On stop, open worker streams get this long to end on their own after GOAWAY before their
 * connections are destroyed: long enough for results in flight to land, short enough that a
 * rolling restart is quick (workers re-report anything unacknowledged elsewhere).
 */
export const STREAM_CLOSE_GRACE_MS = 2000;
