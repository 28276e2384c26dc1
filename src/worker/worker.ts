import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import pino, { type Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import {
  WorkerMessageSchema,
  type CoordinatorMessage,
  type WorkerMessage,
} from '../gen/taskqueue/v1/worker_pb.js';
import { Channel } from '../lib/channel.js';
import { describeError } from '../lib/errors.js';
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
import { refusal, schemeMismatch, type WorkerRefusedError } from './connect-errors.js';
import {
  resolveBatchOptions,
  resolveWorkerOptions,
  type ResolvedWorkerOptions,
  type WorkerOptions,
} from './options.js';
import { StreamBatcher, type CompletionInit, type MessageInit } from './stream-batcher.js';
import { TaskAttempt, type AttemptDeps } from './attempt.js';
import { BatchCollector } from './batch.js';
import { runTask, type RunningTask } from './run.js';
import { workerClient, type WorkerClient } from './transport.js';
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
  /** How every task reports: through the stream, results kept until acknowledged. */
  private readonly attemptDeps: AttemptDeps;
  private readonly handlers = new Map<string, Handler>();
  private readonly batches = new Map<string, BatchCollector>();
  private readonly shell: Handler | undefined;
  private readonly shellAllow: readonly string[] | undefined;
  private readonly running = new Map<string, RunningTask>();
  private readonly unacked = new Map<string, CompletionInit>();
  private readonly clients = new Map<string, WorkerClient>();
  private stream: Channel<WorkerMessage> | undefined;
  private readonly outgoing = new StreamBatcher(() => this.stream);
  private draining = false;
  private closed = false;
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private heartbeatMs = 1000;
  private leaseMs = 5000;
  private welcomed = false;
  private connectedWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private idleWaiters: Array<() => void> = [];
  private onDrainAck: (() => void) | undefined;
  private refusedWith: WorkerRefusedError | undefined;
  private readonly refusedWaiters: Array<(err: WorkerRefusedError) => void> = [];
  private readonly explained = new Set<string>();

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
    if (this.loop) throw new Error('register handlers before start()');
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
    if (this.loop) return;
    this.loop = this.connectLoop();
    this.watchdog = setInterval(() => this.checkLease(), 250);
    this.watchdog.unref();
  }

  /**
   * Resolves when a coordinator has welcomed this worker.
   * @throws WorkerRefusedError when a coordinator refused it for good (see {@link refused}).
   */
  connected(): Promise<void> {
    if (this.refusedWith) return Promise.reject(this.refusedWith);
    if (this.stream && this.welcomed) return Promise.resolve();
    return new Promise((resolve, reject) => this.connectedWaiters.push({ resolve, reject }));
  }

  /**
   * Resolves, with the reason, if a coordinator refuses this worker for good: its token is
   * missing, unknown, revoked, expired or of the wrong role, or its id is not its own. The
   * worker has then stopped (tasks in hand were aborted; their leases bring them back).
   * Never resolves otherwise. The `taskq worker` command exits with an error on it.
   */
  refused(): Promise<WorkerRefusedError> {
    if (this.refusedWith) return Promise.resolve(this.refusedWith);
    return new Promise((resolve) => this.refusedWaiters.push(resolve));
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
    if (this.welcomed) await Promise.race([acknowledged, sleep(Math.min(timeoutMs, 5000))]);
    if (!graceful) this.abortAll('worker stopping');
    if (!(await this.waitIdle(timeoutMs))) {
      this.abortAll('worker shutdown timed out');
      await this.waitIdle(5000);
    }
    // Give the coordinator a moment to acknowledge the last results.
    const deadline = Date.now() + 5000;
    while (this.unacked.size > 0 && this.welcomed && Date.now() < deadline) await sleep(20);
    if (this.unacked.size > 0) {
      this.log.warn(
        { results: this.unacked.size },
        'exiting with unacknowledged results; those tasks will run again after their lease',
      );
    }
    this.closed = true;
    this.stopController.abort();
    this.stream?.close();
    clearInterval(this.watchdog);
    await this.loop;
    for (const { sessions } of this.clients.values()) sessions.abort();
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

  private async connectLoop(): Promise<void> {
    const addresses = this.options.coordinators;
    let index = Math.floor(Math.random() * addresses.length);
    let failures = 0;
    while (!this.closed) {
      const address = addresses[index % addresses.length] as string;
      const out = new Channel<WorkerMessage>();
      const abort = new AbortController();
      const onStop = (): void => abort.abort();
      this.stopController.signal.addEventListener('abort', onStop, { once: true });
      try {
        out.push(create(WorkerMessageSchema, this.helloMessage()));
        this.stream = out;
        for await (const msg of this.client(address).connect(out, { signal: abort.signal })) {
          if (msg.welcome) {
            failures = 0;
            this.onWelcome(address, msg);
          }
          this.onMessage(msg);
        }
        if (!this.closed) this.log.warn({ coordinator: address }, 'coordinator closed the stream');
      } catch (err) {
        if (!this.closed) await this.onStreamError(address, err);
      } finally {
        this.stopController.signal.removeEventListener('abort', onStop);
        this.stream = undefined;
        out.close();
        abort.abort();
        clearInterval(this.heartbeatTimer);
        this.welcomed = false;
      }
      if (this.closed) break;
      index++;
      const cap = Math.min(
        this.options.reconnectMaxMs,
        this.options.reconnectMinMs * 2 ** Math.min(failures++, 10),
      );
      await sleep(cap / 2 + Math.random() * (cap / 2), this.stopController.signal);
    }
  }

  /**
   * A stream failed. A refusal (token, id) stops the worker: reconnecting cannot help. A
   * scheme that does not match the coordinator's is explained once, at error level.
   */
  private async onStreamError(address: string, err: unknown): Promise<void> {
    const refused = refusal(address, err, this.options.token !== undefined);
    if (refused) {
      this.log.error({ coordinator: address }, refused.message);
      this.refusedWith = refused;
      this.closed = true;
      this.abortAll('the coordinator refused this worker');
      clearInterval(this.watchdog);
      for (const resolve of this.refusedWaiters.splice(0)) resolve(refused);
      for (const w of this.connectedWaiters.splice(0)) w.reject(refused);
      return;
    }
    const mismatch = this.explained.has(address) ? null : await schemeMismatch(address, err);
    if (mismatch) {
      this.explained.add(address);
      this.log.error({ coordinator: address }, mismatch);
      return;
    }
    this.log.warn({ coordinator: address, err: describeError(err) }, 'coordinator stream failed');
  }

  private client(address: string): WorkerClient['client'] {
    let c = this.clients.get(address);
    if (!c) this.clients.set(address, (c = workerClient(address, this.options)));
    return c.client;
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

  private onWelcome(address: string, msg: CoordinatorMessage): void {
    const w = msg.welcome;
    if (!w) return;
    if (w.protocol !== STREAM_PROTOCOL) {
      throw new Error(
        `coordinator ${address} speaks version ${w.protocol || 1} of the worker stream and this worker version ${STREAM_PROTOCOL}: run workers of the coordinator's release`,
      );
    }
    this.heartbeatMs = w.heartbeatIntervalMs || 1000;
    this.leaseMs = w.leaseMs || 5000;
    this.welcomed = true;
    this.log.info({ coordinator: address, coordinatorId: w.coordinatorId }, 'connected');
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(
      () => this.outgoing.sendNow({ heartbeat: { running: this.heldRefs() } }),
      this.heartbeatMs,
    );
    this.heartbeatTimer.unref();
    for (const w of this.connectedWaiters.splice(0)) w.resolve();
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
      if (!t.reported && now - t.leaseConfirmedAt > this.leaseMs) {
        t.abort(`lease lost: not confirmed for ${now - t.leaseConfirmedAt} ms`);
      }
    }
  }
}
