import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../lib/fake-clock.js';
import { unpackAssignments, packAssignments } from '../lib/packed.js';
import { TaskAttempt } from './attempt.js';
import { BatchCollector } from './batch.js';
import type { CompletionInit } from './stream-batcher.js';
import type { BatchHandler } from './types.js';

/** A collector for handler `h` on a fake clock, with what its tasks report. */
function setup(handler: BatchHandler, options = { size: 3, waitMs: 50 }) {
  const clock = new FakeClock();
  const logger = pino({ level: 'silent' });
  const batches: number[] = [];
  const results = new Map<string, CompletionInit>();
  const started: string[] = [];
  const collector = new BatchCollector(
    'h',
    (tasks, ctx) => {
      batches.push(tasks.length);
      return handler(tasks, ctx);
    },
    options,
    logger,
    clock,
  );
  let n = 0;
  const add = (payload: unknown = null): TaskAttempt => {
    const a = new TaskAttempt(
      unpackAssignments(
        packAssignments([
          { taskId: `t${++n}`, attempt: 1, command: 'h', payloadJson: JSON.stringify(payload) },
        ]),
      )[0]!,
      {
        logger,
        onStarted: (ref) => started.push(ref.taskId),
        onProgress: () => undefined,
        onResult: (r) => results.set(r.taskId, r),
        onFinished: () => undefined,
      },
    );
    collector.add(a);
    return a;
  };
  return { clock, collector, batches, results, started, add };
}

const echo: BatchHandler = (tasks) => tasks.map((t) => t.payload);

describe('BatchCollector', () => {
  it('runs a batch as soon as it holds size tasks', async () => {
    const { batches, results, add } = setup(echo);
    for (let i = 0; i < 4; i++) add(i);
    await settle();
    expect(batches).toEqual([3]);
    expect([...results.values()].map((r) => [r.ok, r.resultJson])).toEqual([
      [true, '0'],
      [true, '1'],
      [true, '2'],
    ]);
  });

  it('runs a partial batch waitMs after its first task arrived, and not sooner', async () => {
    const { clock, batches, started, add } = setup(echo);
    add();
    await clock.advanceAsync(30);
    add();
    await clock.advanceAsync(19);
    expect(batches).toEqual([]);
    expect(started).toEqual([]); // a gathered task has not started: no start report yet
    await clock.advanceAsync(1);
    expect(batches).toEqual([2]);
    expect(started).toEqual(['t1', 't2']);
  });

  it('runs what it holds at once on flush()', async () => {
    const { collector, batches, add } = setup(echo);
    add();
    collector.flush();
    await settle();
    expect(batches).toEqual([1]);
    expect(collector.gathered).toBe(0);
  });

  it('takes an aborted task out of the batch, reports it, and frees its slot at once', async () => {
    const { clock, batches, results, add } = setup(echo);
    const kept = add('kept');
    const dropped = add('dropped');
    let freed = false;
    void dropped.settled.then(() => (freed = true));
    dropped.abort('cancelled');
    await settle();
    expect(freed).toBe(true);
    expect(results.get('t2')).toMatchObject({ ok: false, error: 'cancelled', failure: 'error' });
    await clock.advanceAsync(50);
    expect(batches).toEqual([1]);
    expect(kept.reported).toBe(true);
    expect(results.get('t1')).toMatchObject({ ok: true, resultJson: '"kept"' });
  });

  it('fails every task, without retries, when the answer is not one result per task', async () => {
    const { collector, results, add } = setup(() => ({}) as unknown as unknown[]);
    add();
    add();
    collector.flush();
    await settle();
    for (const r of results.values()) {
      expect(r).toMatchObject({
        ok: false,
        retryable: false,
        error:
          "batch handler 'h' returned no array for 2 tasks: it must return one result per task, in order",
      });
    }
    expect(results.size).toBe(2);
  });
});
