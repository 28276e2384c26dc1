import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { CoordinatorMessageSchema, WorkerMessageSchema } from '../gen/taskqueue/v1/worker_pb.js';
import {
  PackingError,
  packAssignments,
  packCompletions,
  packRefs,
  packStarts,
  unpackAssignments,
  unpackCompletions,
  unpackRefs,
  unpackStarts,
} from './packed.js';

describe('packed messages', () => {
  it('round-trip completions through the wire, each field in its place', () => {
    const done = [
      { taskId: 'a', attempt: 1, ok: true, resultJson: '{"x":1}', executor: 'handler' },
      {
        taskId: 'b',
        attempt: 3,
        ok: false,
        error: 'boom',
        retryable: true,
        failure: 'timeout',
        startedAtMs: 5n,
        finishedAtMs: 9n,
      },
    ];
    const bytes = toBinary(
      WorkerMessageSchema,
      create(WorkerMessageSchema, { completed: packCompletions(done) }),
    );
    const back = fromBinary(WorkerMessageSchema, bytes).completed;
    expect(unpackCompletions(back!)).toEqual([
      {
        taskId: 'a',
        attempt: 1,
        ok: true,
        resultJson: '{"x":1}',
        error: '',
        retryable: false,
        executor: 'handler',
        startedAtMs: 0n,
        finishedAtMs: 0n,
        failure: '',
        childrenJson: '',
        waitForChildren: false,
      },
      {
        taskId: 'b',
        attempt: 3,
        ok: false,
        resultJson: '',
        error: 'boom',
        retryable: true,
        executor: '',
        startedAtMs: 5n,
        finishedAtMs: 9n,
        failure: 'timeout',
        childrenJson: '',
        waitForChildren: false,
      },
    ]);
  });

  it('sends a field whose entries are all its default as no entries', () => {
    const packed = packCompletions([
      { taskId: 'a', attempt: 1, ok: true, resultJson: 'null' },
      { taskId: 'b', attempt: 1, ok: true, resultJson: 'null' },
    ]);
    expect(packed).toMatchObject({
      taskId: ['a', 'b'],
      ok: [true, true],
      error: [],
      failure: [],
      childrenJson: [],
      waitForChildren: [],
    });
    expect(unpackCompletions(packed).map((c) => c.error)).toEqual(['', '']);
  });

  it('round-trip assignments, refs and starts, payload text untouched', () => {
    const payloadJson = '{"a": [1, 2.50, "\\u00e9"]}';
    const tasks = [
      { taskId: 't1', attempt: 1, command: 'echo hi', payloadJson, queue: 'q', maxAttempts: 3 },
      { taskId: 't2', attempt: 2, command: 'noop', scheduledAtMs: 1_700_000_000_000n },
    ];
    const msg = fromBinary(
      CoordinatorMessageSchema,
      toBinary(
        CoordinatorMessageSchema,
        create(CoordinatorMessageSchema, {
          assigned: packAssignments(tasks),
          accepted: packRefs([{ taskId: 't0', attempt: 4 }]),
        }),
      ),
    );
    const back = unpackAssignments(msg.assigned!);
    expect(back.map((t) => [t.taskId, t.attempt, t.command, t.payloadJson, t.queue])).toEqual([
      ['t1', 1, 'echo hi', payloadJson, 'q'],
      ['t2', 2, 'noop', '', ''],
    ]);
    expect(back[1]?.scheduledAtMs).toBe(1_700_000_000_000n);
    expect(unpackRefs(msg.accepted!)).toEqual([{ taskId: 't0', attempt: 4 }]);
    expect(unpackStarts(packStarts([{ taskId: 's', attempt: 1, startedAtMs: 7n }]))).toEqual([
      { taskId: 's', attempt: 1, startedAtMs: 7n },
    ]);
    expect(unpackRefs(packRefs([]))).toEqual([]);
  });

  it('refuses fields of different lengths, naming the field', () => {
    const misaligned = { ...packRefs([{ taskId: 'a', attempt: 1 }]), taskId: ['a', 'b'] };
    expect(() => unpackRefs(misaligned)).toThrow(PackingError);
    expect(() => unpackRefs(misaligned)).toThrow(/attempt has 1 entries for 2 tasks/);
    // Entries with no task to go with them.
    expect(() => unpackStarts({ taskId: [], attempt: [1], startedAtMs: [] })).toThrow(PackingError);
    const completions = { ...packCompletions([{ taskId: 'a', attempt: 1, ok: true }]) };
    completions.resultJson = ['1', '2'];
    expect(() => unpackCompletions(completions)).toThrow(
      /completed: result_json has 2 entries for 1 tasks/,
    );
  });
});
