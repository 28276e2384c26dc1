// Handlers the bench's taskq worker processes load with `taskq worker --handlers`.
// The peers register the same two in-process (bench/systems/*.ts).
export default {
  /** Does nothing: the benchmark measures the queue, not the work. */
  noop: () => null,
  /** Returns the time it started (ms since the epoch), stored as the task's result. */
  stamp: () => Date.now(),
};
