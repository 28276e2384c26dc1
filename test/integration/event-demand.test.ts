import pg from 'pg';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { EventHub } from '../../src/api/services/event-hub.js';
import { announceEventDemand, eventsChannel } from '../../src/store/events.js';
import { insertTasks } from '../../src/store/insert.js';
import type { NewTask } from '../../src/store/types.js';
import { databaseUrl, useSchema } from '../helpers/db.js';

const db = await useSchema();

// A plain LISTEN connection on the schema's events channel: what any process would hear.
const listener = new pg.Client({ connectionString: databaseUrl() });
await listener.connect();
const heard: string[] = [];
listener.on('notification', (n) => heard.push(n.payload ?? ''));
await listener.query(`LISTEN "${eventsChannel(db)}"`);
afterAll(() => listener.end());

let n = 0;
function task(): NewTask {
  n++;
  return {
    id: crypto.randomUUID(),
    queue: 'demand',
    command: `echo ${n}`,
    handler: 'echo',
    payload: null,
    priority: 0,
    runAt: null,
    maxAttempts: null,
    timeoutMs: null,
    backoffBaseMs: null,
    backoffMaxMs: null,
    idempotencyKey: null,
    concurrencyKey: null,
  };
}

/** Notifications already sent are delivered with the next query's answer: round-trip once. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 100));
  await listener.query('SELECT 1');
}

describe('task events are sent only while someone watches', () => {
  it('stays silent without watchers, and announces every change once demand is announced', async () => {
    const [quiet] = await insertTasks(db, [task()]);
    await settle();
    expect(heard.filter((l) => l.includes(quiet?.id ?? '?'))).toEqual([]);

    // Events were off: this switches them on; a second announce finds them on.
    expect((await announceEventDemand(db, 5000)).sinceSwitchOnMs).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect((await announceEventDemand(db, 5000)).sinceSwitchOnMs).toBeGreaterThan(0);
    const [loud] = await insertTasks(db, [task()]);
    await settle();
    const lines = heard.flatMap((p) => p.split('\n')).filter((l) => l.startsWith(loud?.id ?? '?'));
    expect(lines).toHaveLength(1);
    expect(lines[0]?.split(',').slice(1, 3)).toEqual(['pending', '0']);

    // Demand lapses by itself: nobody renewed it.
    await db.pool.query(`UPDATE ${db.s}.event_demand SET until = now() - interval '1 second'`);
    const [after] = await insertTasks(db, [task()]);
    await settle();
    expect(heard.some((p) => p.includes(after?.id ?? '?'))).toBe(false);
  });

  it('a hub with subscribers keeps events on, and asks them to re-read after switching them on', async () => {
    await db.pool.query(`UPDATE ${db.s}.event_demand SET until = '-infinity'`);
    const hub = new EventHub(db, pino({ level: 'silent' }));
    hub.start();
    await hub.ready(); // listening; no subscriber yet, so events stay off
    try {
      let resyncs = 0;
      const got: string[] = [];
      const unsubscribe = hub.subscribe(
        { queue: 'demand' },
        (e) => got.push(e.taskId),
        () => resyncs++,
      );
      await hub.ready();
      const { rows } = await db.pool.query<{ on: boolean }>(
        `SELECT until > now() + interval '20 seconds' AS on FROM ${db.s}.event_demand`,
      );
      expect(rows[0]?.on).toBe(true);
      const [t] = await insertTasks(db, [task()]);
      await expect.poll(() => got, { timeout: 5000 }).toContain(t?.id);
      // A statement that began before the switch may not have announced its change: about
      // a second after switching events on, subscribers are asked to re-read.
      expect(resyncs).toBe(0);
      await expect.poll(() => resyncs, { timeout: 5000 }).toBe(1);
      unsubscribe();
    } finally {
      await hub.stop();
    }
  });

  it('a second process whose watcher arrives just after another switched events on re-reads too', async () => {
    await db.pool.query(`UPDATE ${db.s}.event_demand SET until = '-infinity'`);
    const [a, b] = [0, 1].map(() => new EventHub(db, pino({ level: 'silent' })));
    for (const h of [a, b]) h?.start();
    try {
      await Promise.all([a?.ready(), b?.ready()]);
      let resyncsA = 0;
      let resyncsB = 0;
      a?.subscribe(
        {},
        () => undefined,
        () => resyncsA++,
      );
      await a?.ready(); // A switched events on
      b?.subscribe(
        {},
        () => undefined,
        () => resyncsB++,
      );
      await b?.ready(); // B found them on already
      // Both re-read about a second after the switch, whoever made it.
      await expect.poll(() => [resyncsA, resyncsB], { timeout: 5000 }).toEqual([1, 1]);
    } finally {
      await Promise.all([a?.stop(), b?.stop()]);
    }
  });
});
