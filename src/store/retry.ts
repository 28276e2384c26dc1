/**
 * SQL for when a failed attempt of task row `t` may run again: exponential backoff from the
 * task's base, capped at its maximum, jittered down by up to half so retries spread out.
 */
export function retryAtSql(t: string): string {
  return `now() + least(${t}.backoff_max_ms, ${t}.backoff_base_ms * 2 ^ (${t}.attempt - 1))
    * (0.5 + random() / 2) * interval '1 millisecond'`;
}
