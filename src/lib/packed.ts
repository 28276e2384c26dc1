import type { Assignments, Completions, Refs, Starts } from '../gen/taskqueue/v1/worker_pb.js';
import { TaskQueueError } from './errors.js';

/**
 * The packed messages of the worker stream (proto/taskqueue/v1/worker.proto): one message per
 * batch whose repeated fields run in parallel, entry i of each describing the i-th task.
 * Packing costs a few arrays per batch where one message per task cost a message object,
 * its tags and its nested reference per task, on both sides of the stream.
 *
 * Every field holds one entry per task, or none: a field whose entries all equal its default
 * is sent empty (a batch of successes carries no `error`, `failure` or `children_json`).
 * The first field, `task_id`, gives the number of tasks. This module is the one place that
 * writes and reads that rule.
 */

/**
 * The version of the stream's messages: 2 since reports and orders were packed. A worker
 * says it in its hello and a coordinator in its welcome; a coordinator refuses a worker of
 * another version, since neither would understand the other's per-task messages.
 */
export const STREAM_PROTOCOL = 2;

/** A packed message's fields, without protobuf's own. */
type Fields<M> = Exclude<keyof M, '$typeName' | '$unknown'>;

/** One task's entry of a packed message: the element of each of its repeated fields. */
export type Entry<M> = {
  [K in Fields<M>]: M[K] extends ReadonlyArray<infer E> ? E : never;
};

/** A packed message as plain arrays, ready to be sent (`create()` takes it as is). */
export type Packed<M> = { [K in Fields<M>]: Array<Entry<M>[K]> };

/** A packed message whose fields disagree in length: a worker's is refused with its stream. */
export class PackingError extends TaskQueueError {
  constructor(message: string) {
    super('invalid_argument', message);
  }
}

/** An attempt: the fencing token every report carries. */
export type Ref = Entry<Refs>;
/** One task handed to a worker. */
export type Assigned = Entry<Assignments>;
/** One start report. */
export type Started = Entry<Starts>;
/** One finished attempt, as the worker reports it. */
export type Completion = Entry<Completions>;

// Each layout lists a message's fields with their defaults, task_id first.
const REF: Ref = { taskId: '', attempt: 0 };
const ASSIGNED: Assigned = {
  taskId: '',
  attempt: 0,
  command: '',
  payloadJson: '',
  queue: '',
  timeoutMs: 0,
  maxAttempts: 0,
  scheduledAtMs: 0n,
  traceParent: '',
  inputsJson: '',
};
const STARTED: Started = { taskId: '', attempt: 0, startedAtMs: 0n };
const COMPLETION: Completion = {
  taskId: '',
  attempt: 0,
  ok: false,
  resultJson: '',
  error: '',
  retryable: false,
  executor: '',
  startedAtMs: 0n,
  finishedAtMs: 0n,
  failure: '',
  childrenJson: '',
  waitForChildren: false,
};

/**
 * Packs entries into parallel fields. A field left out of an entry, or undefined, is its
 * default; a field that is the default in every entry is sent empty.
 */
function pack<M>(entries: ReadonlyArray<Partial<Entry<M>>>, layout: Entry<M>): Packed<M> {
  const packed = {} as Packed<M>;
  const n = entries.length;
  for (const key of Object.keys(layout) as Array<Fields<M>>) {
    const fallback = layout[key];
    const column = new Array<Entry<M>[typeof key]>(n);
    let used = false;
    for (let i = 0; i < n; i++) {
      const value = (entries[i] as Partial<Entry<M>>)[key] ?? fallback;
      column[i] = value;
      if (value !== fallback) used = true;
    }
    packed[key] = used ? column : [];
  }
  return packed;
}

/**
 * Unpacks parallel fields into one entry per task.
 * @throws PackingError when a field has entries but not one per task.
 */
function unpack<M>(message: Packed<M>, layout: Entry<M>, what: string): Array<Entry<M>> {
  const keys = Object.keys(layout) as Array<Fields<M>>;
  const n = message[keys[0] as Fields<M>].length;
  for (const key of keys) {
    const length = message[key].length;
    if (length !== n && length !== 0) {
      throw new PackingError(
        `${what}: ${protoName(String(key))} has ${length} entries for ${n} tasks; each field must have one entry per task, or none`,
      );
    }
  }
  const entries = new Array<Entry<M>>(n);
  for (let i = 0; i < n; i++) {
    const entry = {} as Entry<M>;
    for (const key of keys) {
      const column = message[key];
      entry[key] = column.length === 0 ? layout[key] : (column[i] as Entry<M>[typeof key]);
    }
    entries[i] = entry;
  }
  return entries;
}

/** A field's name as the .proto spells it: `resultJson` → `result_json`. */
function protoName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Packs attempts (acknowledgements). */
export function packRefs(refs: ReadonlyArray<Partial<Ref>>): Packed<Refs> {
  return pack(refs, REF);
}

/** @throws PackingError when the message is misaligned. */
export function unpackRefs(m: Packed<Refs>, what = 'refs'): Ref[] {
  return unpack(m, REF, what);
}

/** Packs tasks handed to a worker. */
export function packAssignments(tasks: ReadonlyArray<Partial<Assigned>>): Packed<Assignments> {
  return pack(tasks, ASSIGNED);
}

/** @throws PackingError when the message is misaligned. */
export function unpackAssignments(m: Packed<Assignments>): Assigned[] {
  return unpack(m, ASSIGNED, 'assigned');
}

/** Packs start reports. */
export function packStarts(starts: ReadonlyArray<Partial<Started>>): Packed<Starts> {
  return pack(starts, STARTED);
}

/** @throws PackingError when the message is misaligned. */
export function unpackStarts(m: Packed<Starts>): Started[] {
  return unpack(m, STARTED, 'started');
}

/** Packs finished attempts. */
export function packCompletions(done: ReadonlyArray<Partial<Completion>>): Packed<Completions> {
  return pack(done, COMPLETION);
}

/** @throws PackingError when the message is misaligned. */
export function unpackCompletions(m: Packed<Completions>): Completion[] {
  return unpack(m, COMPLETION, 'completed');
}
