import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  WorkerMessageSchema,
  type ResultSchema,
  type StartedSchema,
  type WorkerMessage,
} from '../gen/taskqueue/v1/worker_pb.js';
import type { Channel } from '../lib/channel.js';

/** A result as the worker builds it (kept until the coordinator acknowledges it). */
export type ResultInit = MessageInitShape<typeof ResultSchema>;
type StartedInit = MessageInitShape<typeof StartedSchema>;
/** Any part of a message from worker to coordinator. */
export type MessageInit = MessageInitShape<typeof WorkerMessageSchema>;
type ProgressInit = NonNullable<MessageInit['progress']>[number];

/**
 * What a worker tells its coordinator, batched: everything queued in one turn of the event
 * loop goes out as one stream message. Heartbeats and the draining notice are rare and
 * time-sensitive, so they go out at once. Without a stream, starts, credits and progress are
 * dropped (a reconnect restates them); the worker keeps results until they are acknowledged.
 */
export class StreamBatcher {
  private started: StartedInit[] = [];
  private results: ResultInit[] = [];
  private credits = 0;
  private progress = new Map<string, ProgressInit>();
  private scheduled = false;

  constructor(private readonly stream: () => Channel<WorkerMessage> | undefined) {}

  /** Queues parts of a message. */
  send(part: MessageInit): void {
    const stream = this.stream();
    if (!stream) return;
    if (part.heartbeat || part.draining) {
      stream.push(
        create(WorkerMessageSchema, {
          heartbeat: part.heartbeat,
          draining: part.draining ?? false,
        }),
      );
      return;
    }
    if (part.started) this.started.push(...(part.started as StartedInit[]));
    if (part.results) this.results.push(...(part.results as ResultInit[]));
    if (part.credits) this.credits += part.credits;
    this.schedule();
  }

  /** Queues a progress report; a later one for the same attempt replaces it. */
  reportProgress(ref: { taskId: string; attempt: number }, percent: number, message: string): void {
    this.progress.set(`${ref.taskId}:${ref.attempt}`, { ref, percent, message });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const { started, results, credits, progress } = this;
    this.started = [];
    this.results = [];
    this.credits = 0;
    this.progress = new Map();
    const stream = this.stream();
    if (!stream) return;
    if (!started.length && !results.length && !credits && !progress.size) return;
    // A result carries its start time, so a start report for a task that has already
    // finished would only cost the coordinator a write.
    const finished = new Set(results.map((r) => `${r.ref?.taskId}:${r.ref?.attempt}`));
    stream.push(
      create(WorkerMessageSchema, {
        started: started.filter((s) => !finished.has(`${s.ref?.taskId}:${s.ref?.attempt}`)),
        results,
        credits,
        progress: [...progress.values()],
      }),
    );
  }
}
