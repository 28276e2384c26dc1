/**
 * The claim statement alone: inserts a backlog, then claims it 200 slots at a time (two
 * workers' ids, interleaved) until nothing is left, and prints the time each drain of the
 * backlog took. No worker, no completion: what one path of `claimDue` costs.
 *
 *   npx tsx bench/tools/claim-probe.ts [plain|serialised|sticky] [rounds] [tasks]
 *
 * plain: the common path. serialised: the same tasks on the serialised path (as a queue with
 * limits, groups or rate keys takes it). sticky: each task has one of 100 sticky keys, which
 * sends the queue to the serialised path and pairs tasks with their keys' holders.
 * Uses DATABASE_URL, else the local server; works in a schema of its own, dropped at the end.
 */
import { prepareTask } from '../../src/api/services/submit.js';
import { claimDue } from '../../src/store/claim.js';
import { createDb } from '../../src/store/db.js';
import { insertTasks } from '../../src/store/insert.js';
import { migrate } from '../../src/store/migrate.js';
import { DEFAULT_DATABASE_URL } from '../lib/database.js';

const mode = process.argv[2] ?? 'plain';
if (!['plain', 'serialised', 'sticky'].includes(mode)) {
  process.stderr.write('usage: claim-probe.ts [plain|serialised|sticky] [rounds] [tasks]\n');
  process.exit(2);
}
const rounds = Number(process.argv[3] ?? 3);
const tasks = Number(process.argv[4] ?? 50_000);
const STICKY_KEYS = 100;
const SLOTS = Array.from({ length: 200 }, (_, i) => `worker-${i % 2}`);

const db = createDb({
  url: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
  schema: `claim_probe_${process.pid}`,
  max: 2,
});
await migrate(db);
const times: number[] = [];
try {
  for (let r = 0; r < rounds; r++) {
    for (let done = 0; done < tasks; done += 5000) {
      const batch = Array.from({ length: Math.min(5000, tasks - done) }, (_, i) =>
        prepareTask({
          command: 'noop',
          queue: 'probe',
          ...(mode === 'sticky' ? { sticky_key: `key-${(done + i) % STICKY_KEYS}` } : {}),
        }),
      );
      await insertTasks(db, batch);
    }
    await db.pool.query(`VACUUM ANALYZE ${db.s}.tasks`);
    const started = performance.now();
    for (;;) {
      const claimed = await claimDue(db, {
        queue: 'probe',
        handlers: null,
        slots: SLOTS,
        leaseMs: 600_000,
        limited: mode === 'serialised',
      });
      if (claimed.length === 0) break;
    }
    times.push(performance.now() - started);
    // The claimed tasks leave, so that the next round's counts of running tasks start empty.
    await db.pool.query(`DELETE FROM ${db.s}.tasks`);
  }
  process.stdout.write(
    `${mode}: ${times.map((t) => `${Math.round(t)} ms`).join(', ')} per ${tasks.toLocaleString('en-US')} tasks\n`,
  );
} finally {
  await db.pool.query(`DROP SCHEMA ${db.s} CASCADE`);
  await db.pool.end();
}
