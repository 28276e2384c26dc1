// Handlers for the chaos suite. Every execution appends a row to a plain side-effect log
// (no unique constraint), so the suite can count lost tasks and duplicates.
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
pool.on('error', () => undefined);
const table = `"${process.env.TASKQ_SCHEMA}".side_effects`;
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function record(ctx) {
  await pool.query(`INSERT INTO ${table} (task_id, attempt, pid, at_ms) VALUES ($1, $2, $3, $4)`, [
    ctx.taskId,
    ctx.attempt,
    process.pid,
    Date.now(),
  ]);
}

export default {
  /** Records the execution, then works for payload.ms (retryMs on later attempts), ignoring aborts. */
  effect: async (payload, ctx) => {
    await record(ctx);
    const ms =
      ctx.attempt > 1 && payload?.retryMs !== undefined ? payload.retryMs : (payload?.ms ?? 0);
    if (ms > 0) await wait(ms);
    return { pid: process.pid, attempt: ctx.attempt };
  },
  /** A poison task: records itself, then kills its own worker process. */
  crash: async (_payload, ctx) => {
    await record(ctx);
    process.kill(process.pid, 'SIGKILL');
    await wait(60_000);
  },
};
