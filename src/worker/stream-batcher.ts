import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { WorkerMessageSchema, type WorkerMessage } from '../gen/taskqueue/v1/worker_pb.js';
import type { Channel } from '../lib/channel.js';
import { packCompletions, packStarts, type Completion, type Started } from '../lib/packed.js';

/** A finished attempt as the worker reports it (kept until the coordinator acknowledges it). */
export type CompletionInit = Partial<Completion> & Pick<Completion, 'taskId' | 'attempt'>;
/** Any part of a message from worker to coordinator. */
export type MessageInit = MessageInitShape<typeof WorkerMessageSchema>;
type ProgressInit = NonNullable<MessageInit['progress']>[number];

/**
 * What a worker tells its coordinator, batched: everything queued in one turn of the event
 * loop goes out as one stream message, its starts and results packed. Heartbeats and the
 * draining notice are rare and time-sensitive, so they go out at once. Without a stream,
 * starts, credits and progress are dropped (a reconnect restates them); the worker keeps
 * results until they are acknowledged.
 */
export class StreamBatcher {
  private started: Started[] = [];
  private completed: CompletionInit[] = [];
  private credits = 0;
  private progress = new Map<string, ProgressInit>();
  private scheduled = false;
  private readonly flushNow = (): void => this.flush();

  constructor(private readonly stream: () => Channel<WorkerMessage> | undefined) {}

  /** Sends a heartbeat or the draining notice at once. */
  sendNow(part: Pick<MessageInit, 'heartbeat' | 'draining'>): void {
    this.stream()?.push(
      create(WorkerMessageSchema, { heartbeat: part.heartbeat, draining: part.draining ?? false }),
    );
  }

  /** Queues a start report. */
  start(taskId: string, attempt: number, startedAtMs: number): void {
    if (!this.stream()) return;
    this.started.push({ taskId, attempt, startedAtMs: BigInt(startedAtMs) });
    this.schedule();
  }

  /** Queues a finished attempt. */
  complete(done: CompletionInit): void {
    if (!this.stream()) return;
    this.completed.push(done);
    this.schedule();
  }

  /** Queues free slots for the coordinator. */
  addCredits(n: number): void {
    if (!this.stream()) return;
    this.credits += n;
    this.schedule();
  }

  /** Queues a progress report; a later one for the same attempt replaces it. */
  reportProgress(ref: { taskId: string; attempt: number }, percent: number, message: string): void {
    if (!this.stream()) return;
    this.progress.set(`${ref.taskId}:${ref.attempt}`, { ref, percent, message });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushNow);
  }

  private flush(): void {
    this.scheduled = false;
    const { started, completed, credits, progress } = this;
    this.started = [];
    this.completed = [];
    this.credits = 0;
    this.progress = new Map();
    const stream = this.stream();
    if (!stream) return;
    if (!started.length && !completed.length && !credits && !progress.size) return;
    // A result carries its start time, so a start report for a task that has already
    // finished would only cost the coordinator a write.
    let starts = started;
    if (started.length > 0 && completed.length > 0) {
      const finished = new Set(completed.map((c) => `${c.taskId}:${c.attempt}`));
      starts = started.filter((s) => !finished.has(`${s.taskId}:${s.attempt}`));
    }
    stream.push(
      create(WorkerMessageSchema, {
        started: starts.length > 0 ? packStarts(starts) : undefined,
        completed: completed.length > 0 ? packCompletions(completed) : undefined,
        credits,
        progress: [...progress.values()],
      }),
    );
  }
}
