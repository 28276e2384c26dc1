/**
 * The limits a task's fields must keep, wherever a task comes from: the REST and gRPC schemas
 * (api/schemas) and the SQL function taskq.submit() (the store writes these values into the
 * schema's task_rules row at every migrate, and the function reads them there). One
 * definition, so the two cannot drift.
 */
export const TASK_LIMITS = {
  commandLength: 8192,
  idempotencyKeyLength: 255,
  maxAttempts: 100,
  timeoutMs: 7 * 24 * 3_600_000,
  priority: 1000,
  backoffMs: 24 * 3_600_000,
  /** Bytes of payload JSON. */
  payloadBytes: 1024 * 1024,
} as const;
