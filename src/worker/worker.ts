import { randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import type { CoordinatorMessage } from '../gen/taskqueue/v1/worker_pb.js';
import {
  STREAM_PROTOCOL,
  packCompletions,
  unpackAssignments,
  unpackRefs,
  type Assigned,
} from '../lib/packed.js';
import { sleep } from '../lib/time.js';
import { VERSION } from '../lib/version.js';
import { BUILTIN_HANDLERS } from './executors/builtin.js';
import { shellHandler } from './executors/shell.js';
import type { WorkerRefusedError } from './connect-errors.js';
import { CoordinatorConnection } from './connection.js';
import {
  resolveBatchOptions,
  resolveWorkerOptions,
  type ResolvedWorkerOptions,
  type WorkerOptions,
} from './options.js';
import type { CompletionInit, MessageInit, StreamBatcher } from './stream-batcher.js';
import { TaskAttempt, type AttemptDeps } from './attempt.js';
import { BatchCollector } from './batch.js';
import { runTask, type RunningTask } from './run.js';
import type { BatchHandler, BatchOptions, Handler } from './types.js';

/**
 * A worker: connects to a coordinator over one gRPC stream, announces the handlers it
 * serves, and runs what it is given, at most `concurrency` at a time.
 *
 * Type the payloads by handler name: `new Worker<{ resize: { url: string } }>()` makes
 * `worker.handle('resize', async (payload) => payload.url)` type-check, and types the items'
 * payloads of `worker.handleBatch('resize', …)` the same way.
 *
 * It reconnects with jittered backoff (rotating through the coordinator list), keeps each
 * result until a coordinator acknowledges it and re-reports it after a reconnect, and on
 * `stop()` takes no new work and finishes what it holds.
 */
export class Worker<H extends Record<string, unknown> = Record<string, unknown>> {
  /** Stable for the life of this object, across reconnects. */
  readonly id = uuidv7();
  /**
   * The secret that binds {@link id} to this object at the coordinators: a hello with the same
   * id and another key is refused. Sent only in the hello; never logged.
   */
  private readonly instanceKey = randomBytes(32).toString('base64url');
  readonly options: ResolvedWorkerOptions;
  private readonly log: Logger;
  /** The stream to the coordinators: hello, heartbeats, reconnects, refusal. */
  private readonly connection: CoordinatorConnection;
  /** What goes to the coordinator, batched: the connection's. */
  private readonly outgoing: StreamBatcher;
  /** How every task reports: through the stream, results kept until acknowledged. */
  private readonly attemptDeps: AttemptDeps;
  private readonly handlers = new Map<string, Handler>();
  private readonly batches = new Map<string, BatchCollector>();
  private readonly shell: Handler | undefined;
  private readonly shellAllow: readonly string[] | undefined;
  private readonly running = new Map<string, RunningTask>();
  private readonly unacked = new Map<string, CompletionInit>();
  private draining = false;
  private stopping: Promise<void> | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private onDrainAck: (() => void) | undefined;

  constructor(options: WorkerOptions = {}) {
    this.options = resolveWorkerOptions(options);
    this.log = (options.logger ?? pino({ level: 'silent' })).child({
      component: 'worker',
      workerId: this.id,
    });
    if (this.options.builtins)
      for (const [name, fn] of Object.entries(BUILTIN_HANDLERS)) this.handlers.set(name, fn);
    this.shell = this.options.shell ? shellHandler(this.options.shell) : undefined;
    this.shellAllow = this.options.shell ? this.options.shell.allow : undefined;
    this.connection = new CoordinatorConnection(this.options, {
      logger: this.log,
      hello: () => this.helloMessage(),
      heldRefs: () => this.heldRefs(),
      onMessage: (msg) => this.onMessage(msg),
      onRefused: () => {
        this.abortAll('the coordinator refused this worker');
        clearInterval(this.watchdog);
      },
    });
    this.outgoing = this.connection.outgoing;
    this.attemptDeps = {
      logger: this.log,
      onStarted: (ref, startedAtMs) => this.outgoing.start(ref.taskId, ref.attempt, startedAtMs),
      onProgress: (ref, percent, message) => this.outgoing.reportProgress(ref, percent, message),
      onResult: (result) => {
        this.unacked.set(`${result.taskId}:${result.attempt}`, result);
        this.outgoing.complete(result);
      },
      onFinished: (task) => this.onTaskFinished(task),
    };
  }

  /**
   * Registers the handler for tasks whose command starts with `name`. Call before start().
   * A name has one handler: registering it again (with this or {@link handleBatch}) replaces
   * the earlier one, a built-in included.
   */
  handle<K extends keyof H & string>(name: K, fn: Handler<H[K]>): this {
    this.checkName(name);
    this.batches.delete(name);
    this.handlers.set(name, fn as Handler);
    return this;
  }

  /**
   * Registers a batch handler for tasks whose command starts with `name`: it gets up to
   * `size` tasks at once, and returns one result per task, in order (a value, or an `Error`
   * that fails that task alone). Call before start().
   *
   * A batch runs once it holds `size` tasks, or `waitMs` after its first task arrived, or at
   * once when no more can come (every slot in use, or stopping). Each task keeps its own
   * slot, lease, timeout, abort and fenced result, as with {@link handle}.
   *
   * @default size 100, waitMs 10
   * @throws ValidationError naming `size` or `waitMs` when one is out of range.
   */
  handleBatch<K extends keyof H & string>(
    name: K,
    fn: BatchHandler<H[K]>,
    options: BatchOptions = {},
  ): this {
    this.checkName(name);
    const resolved = resolveBatchOptions(options);
    this.handlers.delete(name);
    this.batches.set(name, new BatchCollector(name, fn as BatchHandler, resolved, this.log));
    return this;
  }

  private checkName(name: string): void {
    if (!/^\S+$/.test(name)) throw new Error(`handler name "${name}" must be one word`);
    if (this.connection.started) throw new Error('register handlers before start()');
  }

  /** Handler names this worker announces, batch handlers included. */
  get handlerNames(): string[] {
    return [...this.handlers.keys(), ...this.batches.keys()];
  }

  /** Tasks held: running, or gathered into a batch that has not started yet. */
  get activeTasks(): number {
    return this.running.size;
  }

  /** Starts connecting in the background. Use {@link connected} to wait for the first connection. */
  start(): void {
    if (this.connection.started) return;
    this.connection.start();
    this.watchdog = setInterval(() => this.checkLease(), 250);
    this.watchdog.unref();
  }

  /**
   * Resolves when a coordinator has welcomed this worker.
   * @throws WorkerRefusedError when a coordinator refused it for good (see {@link refused}).
   */
  connected(): Promise<void> {
    return this.connection.connected();
  }

  /**
   * Resolves, with the reason, if a coordinator refuses this worker for good: its token is
   * missing, unknown, revoked, expired or of the wrong role, or its id is not its own. The
   * worker has then stopped (tasks in hand were aborted; their leases bring them back).
   * Never resolves otherwise. The `taskq worker` command exits with an error on it.
   */
  refused(): Promise<WorkerRefusedError> {
    return this.connection.refused();
  }

  /**
   * Stops taking work and finishes what it holds (graceful), or aborts it at once. After
   * `timeoutMs`, running handlers are aborted. Results are delivered before the stream
   * closes. Calling it again returns the same promise.
   * @default graceful true, timeoutMs 30000
   */
  stop(opts: { graceful?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.stopping ??= this.shutdown(opts.graceful ?? true, opts.timeoutMs ?? 30_000);
    return this.stopping;
  }

  private async shutdown(graceful: boolean, timeoutMs: number): Promise<void> {
    this.draining = true;
    this.log.info(
      { running: this.running.size },
      graceful ? 'draining: finishing tasks in hand' : 'stopping now',
    );
    const acknowledged = new Promise<void>((resolve) => (this.onDrainAck = resolve));
    this.outgoing.sendNow({ draining: true });
    // Gathered tasks cannot be joined by more: a graceful stop runs them now; a forced one
    // aborts them below without running them.
    if (graceful) this.flushBatches();
    // Until the coordinator acknowledges, an assignment may still be on its way. Without a
    // live stream nothing is: a worker whose coordinator is gone stops at once.
    if (this.connection.welcomed)
      await Promise.race([acknowledged, sleep(Math.min(timeoutMs, 5000))]);
    if (!graceful) this.abortAll('worker stopping');
    if (!(await this.waitIdle(timeoutMs))) {
      this.abortAll('worker shutdown timed out');
      await this.waitIdle(5000);
    }
    // Give the coordinator a moment to acknowledge the last results.
    const deadline = Date.now() + 5000;
    while (this.unacked.size > 0 && this.connection.welcomed && Date.now() < deadline)
      await sleep(20);
    if (this.unacked.size > 0) {
      this.log.warn(
        { results: this.unacked.size },
        'exiting with unacknowledged results; those tasks will run again after their lease',
      );
    }
    clearInterval(this.watchdog);
    await this.connection.close();
    this.log.info('worker stopped');
  }

  private waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.running.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private abortAll(reason: string): void {
    for (const t of this.running.values()) t.abort(reason);
  }

  private helloMessage(): MessageInit {
    return {
      hello: {
        workerId: this.id,
        name: this.options.name,
        queues: this.options.queues,
        // With an allow list, the shell serves exactly the listed programs: the coordinator
        // then hands this worker no command it would refuse.
        handlers: this.shellAllow
          ? [...new Set([...this.handlerNames, ...this.shellAllow])]
          : this.handlerNames,
        acceptsAnyCommand: this.shell !== undefined && !this.shellAllow,
        concurrency: this.options.concurrency,
        labels: this.options.labels,
        version: VERSION,
        instanceKey: this.instanceKey,
        protocol: STREAM_PROTOCOL,
      },
      draining: this.draining,
      credits: this.draining ? 0 : Math.max(0, this.options.concurrency - this.running.size),
      // Results a previous coordinator never acknowledged: fencing decides if they still count.
      completed: this.unacked.size > 0 ? packCompletions([...this.unacked.values()]) : undefined,
      heartbeat: { running: this.heldRefs() },
    };
  }

  private onMessage(msg: CoordinatorMessage): void {
    if (msg.drainAcknowledged) this.onDrainAck?.();
    if (msg.leasesExtended) {
      const now = Date.now();
      for (const t of this.running.values()) t.leaseConfirmedAt = now;
    }
    const assigned = msg.assigned ? unpackAssignments(msg.assigned) : [];
    for (const a of assigned) this.startTask(a);
    if (assigned.length > 0 && (this.draining || this.running.size >= this.options.concurrency))
      this.flushBatches();
    for (const a of msg.abort) {
      if (!a.ref) continue;
      this.running
        .get(`${a.ref.taskId}:${a.ref.attempt}`)
        ?.abort(a.reason || 'aborted by coordinator');
    }
    if (msg.accepted) {
      for (const ref of unpackRefs(msg.accepted, 'accepted'))
        this.unacked.delete(`${ref.taskId}:${ref.attempt}`);
    }
    if (msg.refused) {
      for (const ref of unpackRefs(msg.refused, 'refused')) {
        this.unacked.delete(`${ref.taskId}:${ref.attempt}`);
        this.log.warn(
          { taskId: ref.taskId, attempt: ref.attempt },
          'result rejected: a newer attempt owns the task, or it was cancelled',
        );
      }
    }
  }

  /** Attempts held whose results are not yet produced: what heartbeats keep leased. */
  private heldRefs(): Array<{ taskId: string; attempt: number }> {
    const refs = [];
    for (const t of this.running.values()) if (!t.reported) refs.push(t.ref);
    return refs;
  }

  private startTask(a: Assigned): void {
    const key = `${a.taskId}:${a.attempt}`;
    if (this.running.has(key)) return;
    const task = new TaskAttempt(a, this.attemptDeps);
    this.running.set(key, task);
    const batch = this.batches.get(task.handler);
    if (batch) batch.add(task);
    else runTask(task, this.handlers.get(task.handler), this.shell);
  }

  /** A task's handler returned (or it left its batch unrun): its slot is free. */
  private onTaskFinished(task: TaskAttempt): void {
    const key = `${task.ref.taskId}:${task.ref.attempt}`;
    if (this.running.get(key) === task) this.running.delete(key);
    if (!this.draining) this.outgoing.addCredits(1);
    if (this.running.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /**
   * Runs every batch gathered so far: no more tasks can come to fill them (every slot is in
   * use, or the worker is stopping), so waiting would only delay them.
   */
  private flushBatches(): void {
    for (const batch of this.batches.values()) batch.flush();
  }

  /**
   * A lease not confirmed for a whole lease period is surely gone: the worker is cut off,
   * or its coordinator cannot reach the database. Another worker may already run the task,
   * so abort the handler (its late result would be fenced out anyway).
   */
  private checkLease(): void {
    const now = Date.now();
    for (const t of this.running.values()) {
      if (!t.reported && now - t.leaseConfirmedAt > this.connection.leaseMs) {
        t.abort(`lease lost: not confirmed for ${now - t.leaseConfirmedAt} ms`);
      }
    }
  }
}
