import type { MessageInitShape } from '@bufbuild/protobuf';
import type { CoordinatorMessageSchema } from '../gen/taskqueue/v1/worker_pb.js';
import type { WorkerInfo } from '../store/workers.js';

/** A message to a worker, as an init object (the gateway turns it into a protobuf message). */
export type OutgoingMessage = MessageInitShape<typeof CoordinatorMessageSchema>;

/** One connected worker stream. */
export interface WorkerSession {
  readonly info: WorkerInfo;
  /** Distinguishes this stream from an earlier one of the same worker. */
  readonly sessionId: number;
  /** Slots the worker granted and that no assignment has used yet. */
  credits: number;
  /** The worker is shutting down and takes no more work. */
  draining: boolean;
  /** Attempts handed out on this stream and not yet reported: task id → attempt. */
  readonly assigned: Map<string, number>;
  lastSeenAt: number;
  send(message: OutgoingMessage): void;
}

/**
 * The workers connected to this coordinator. The dispatcher reads it to find free slots;
 * the completer and cancel path use it to route answers back to the right stream.
 */
export class Registry {
  private readonly sessions = new Map<string, WorkerSession>();
  private readonly byTask = new Map<string, WorkerSession>();
  private nextSessionId = 1;

  /** Adds a stream. A worker that reconnects replaces its older stream. */
  add(info: WorkerInfo, send: (m: OutgoingMessage) => void): WorkerSession {
    const session: WorkerSession = {
      info,
      sessionId: this.nextSessionId++,
      credits: 0,
      draining: false,
      assigned: new Map(),
      lastSeenAt: Date.now(),
      send,
    };
    this.sessions.set(info.id, session);
    return session;
  }

  /** Removes a stream, unless a newer stream of the same worker already replaced it. */
  remove(session: WorkerSession): boolean {
    if (this.sessions.get(session.info.id) !== session) return false;
    this.sessions.delete(session.info.id);
    for (const id of session.assigned.keys()) {
      if (this.byTask.get(id) === session) this.byTask.delete(id);
    }
    return true;
  }

  get(workerId: string): WorkerSession | undefined {
    return this.sessions.get(workerId);
  }

  all(): IterableIterator<WorkerSession> {
    return this.sessions.values();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Records an assignment on a stream. */
  assign(session: WorkerSession, taskId: string, attempt: number): void {
    session.assigned.set(taskId, attempt);
    session.credits -= 1;
    this.byTask.set(taskId, session);
  }

  /**
   * Forgets an assignment once its result is in (or it was aborted). With `workerId`, only
   * when that worker holds it: a report from anyone else changes nothing here.
   */
  release(taskId: string, workerId?: string): void {
    const session = this.byTask.get(taskId);
    if (!session || (workerId !== undefined && session.info.id !== workerId)) return;
    session.assigned.delete(taskId);
    this.byTask.delete(taskId);
  }

  /** The stream a task was handed to, if it is connected here. */
  holderOf(taskId: string): WorkerSession | undefined {
    return this.byTask.get(taskId);
  }
}
