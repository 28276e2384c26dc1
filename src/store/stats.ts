import type { Db } from './db.js';

/** Throughput and latency over a recent window, for the dashboard's overview. */
export interface Stats {
  windowS: number;
  bucketS: number;
  /** One point per bucket, oldest first: tasks that succeeded, and attempts that failed. */
  series: Array<{ t: Date; succeeded: number; failed: number }>;
  /**
   * Due to start, of tasks that succeeded in the window: from when each became due here (the
   * later of its run_at or retry time and its creation) to its start.
   */
  waitMs: { p50: number | null; p95: number | null; p99: number | null };
  /** Start to finish (completed_at − started_at), of tasks that succeeded in the window. */
  runMs: { p50: number | null; p95: number | null; p99: number | null };
}

/**
 * Reads only the tasks changed within the window (the updated_at index), never the
 * history. A failure that will be retried counts as failed at its failed_at.
 */
export async function recentStats(db: Db, windowS: number, bucketS: number): Promise<Stats> {
  // Params: $1 window seconds, $2 bucket seconds
  const { rows } = await db.pool.query<{
    series: Array<{ t: string; succeeded: number; failed: number }> | null;
    wait: number[] | null;
    run: number[] | null;
  }>(
    `WITH recent AS (
       SELECT status, greatest(scheduled_at, created_at) AS due_at, started_at, completed_at, failed_at
       FROM ${db.s}.tasks
       WHERE updated_at > now() - $1 * interval '1 second'
     ), buckets AS (
       SELECT to_timestamp(floor(extract(epoch FROM now()) / $2) * $2 - g * $2) AS t
       FROM generate_series(0, ($1 / $2)::int - 1) AS g
     ), events AS (
       SELECT to_timestamp(floor(extract(epoch FROM completed_at) / $2) * $2) AS t, 1 AS s, 0 AS f
       FROM recent WHERE status = 'succeeded' AND completed_at > now() - $1 * interval '1 second'
       UNION ALL
       SELECT to_timestamp(floor(extract(epoch FROM failed_at) / $2) * $2), 0, 1
       FROM recent WHERE failed_at > now() - $1 * interval '1 second'
     ), series AS (
       SELECT b.t, coalesce(sum(e.s), 0)::int AS succeeded, coalesce(sum(e.f), 0)::int AS failed
       FROM buckets b LEFT JOIN events e ON e.t = b.t GROUP BY b.t ORDER BY b.t
     ), done AS (
       SELECT greatest(0, extract(epoch FROM started_at - due_at) * 1000) AS wait,
              extract(epoch FROM completed_at - started_at) * 1000 AS run
       FROM recent WHERE status = 'succeeded' AND started_at IS NOT NULL
     )
     SELECT (SELECT json_agg(series) FROM series) AS series,
            (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY wait) FROM done) AS wait,
            (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY run) FROM done) AS run`,
    [windowS, bucketS],
  );
  const r = rows[0];
  const pct = (a: number[] | null | undefined) => ({
    p50: a?.[0] ?? null,
    p95: a?.[1] ?? null,
    p99: a?.[2] ?? null,
  });
  return {
    windowS,
    bucketS,
    series: (r?.series ?? []).map((p) => ({
      t: new Date(p.t),
      succeeded: p.succeeded,
      failed: p.failed,
    })),
    waitMs: pct(r?.wait),
    runMs: pct(r?.run),
  };
}
