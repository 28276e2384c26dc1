// Handlers the bench's taskq worker processes load with `taskq worker --handlers`.
// The peers register their equivalents in-process (bench/systems/peer-host/*.ts).
export default {
  /** Does nothing: the benchmark measures the queue, not the work. */
  noop: () => null,
  /** Returns the time it started (ms since the epoch), stored as the task's result. */
  stamp: () => Date.now(),
  /**
   * A fan-out parent: spawns `payload.n` no-op children and waits for them without a slot.
   * Run again with every child's outcome in ctx.children, it returns when that run started
   * and how many children succeeded.
   */
  fanout: (payload, ctx) => {
    if (ctx.children) {
      return {
        startedAt: Date.now(),
        succeeded: ctx.children.filter((c) => c.status === 'succeeded').length,
      };
    }
    return ctx.waitFor(ctx.spawn(Array.from({ length: payload.n }, () => ({ command: 'noop' }))));
  },
  /** A DAG's join: when it started, and how many parents' results it was handed. */
  join: (_payload, ctx) => ({ startedAt: Date.now(), parents: Object.keys(ctx.parents).length }),
};
