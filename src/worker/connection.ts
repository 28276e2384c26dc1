import { create } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import {
  WorkerMessageSchema,
  type CoordinatorMessage,
  type WorkerMessage,
} from '../gen/taskqueue/v1/worker_pb.js';
import { Channel } from '../lib/channel.js';
import { describeError } from '../lib/errors.js';
import { STREAM_PROTOCOL } from '../lib/packed.js';
import { sleep } from '../lib/time.js';
import type { Ref } from './attempt.js';
import { refusal, schemeMismatch, type WorkerRefusedError } from './connect-errors.js';
import type { ResolvedWorkerOptions } from './options.js';
import { StreamBatcher, type MessageInit } from './stream-batcher.js';
import { workerClient, type WorkerClient } from './transport.js';

/** What a connection asks of its worker. */
export interface ConnectionDeps {
  logger: Logger;
  /** The first message of every stream: the hello, with the worker's state as it is now. */
  hello(): MessageInit;
  /** Attempts to keep leased: sent with every heartbeat. */
  heldRefs(): Ref[];
  /** Every message from the coordinator, the welcome included (after the connection saw it). */
  onMessage(msg: CoordinatorMessage): void;
  /** A coordinator refused the worker for good: the connection has closed for good too. */
  onRefused(): void;
}

/**
 * A worker's one gRPC stream to a coordinator. It opens the stream with the worker's hello,
 * heartbeats at the interval the welcome names, and when the stream fails reconnects with
 * jittered backoff, rotating through the coordinator list. A refusal (token, id) closes it
 * for good: reconnecting cannot help.
 */
export class CoordinatorConnection {
  /** What goes to the coordinator, batched; dropped while no stream is open. */
  readonly outgoing = new StreamBatcher(() => this.stream);
  private readonly log: Logger;
  private readonly clients = new Map<string, WorkerClient>();
  private stream: Channel<WorkerMessage> | undefined;
  private closed = false;
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatMs = 1000;
  private welcomeLeaseMs = 5000;
  private isWelcomed = false;
  private connectedWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private refusedWith: WorkerRefusedError | undefined;
  private readonly refusedWaiters: Array<(err: WorkerRefusedError) => void> = [];
  private readonly explained = new Set<string>();

  constructor(
    private readonly options: ResolvedWorkerOptions,
    private readonly deps: ConnectionDeps,
  ) {
    this.log = deps.logger;
  }

  /** Whether {@link start} has been called. */
  get started(): boolean {
    return this.loop !== undefined;
  }

  /** Whether a coordinator has welcomed the worker on the stream now open. */
  get welcomed(): boolean {
    return this.isWelcomed;
  }

  /** How long a lease lasts, as the last welcome said. @default 5000 before any welcome */
  get leaseMs(): number {
    return this.welcomeLeaseMs;
  }

  /** Starts connecting in the background, and reconnecting until {@link close}. */
  start(): void {
    this.loop ??= this.connectLoop();
  }

  /**
   * Resolves when a coordinator has welcomed the worker.
   * @throws WorkerRefusedError when a coordinator refused it for good.
   */
  connected(): Promise<void> {
    if (this.refusedWith) return Promise.reject(this.refusedWith);
    if (this.stream && this.isWelcomed) return Promise.resolve();
    return new Promise((resolve, reject) => this.connectedWaiters.push({ resolve, reject }));
  }

  /** Resolves, with the reason, if a coordinator refuses the worker for good; never otherwise. */
  refused(): Promise<WorkerRefusedError> {
    if (this.refusedWith) return Promise.resolve(this.refusedWith);
    return new Promise((resolve) => this.refusedWaiters.push(resolve));
  }

  /** Closes the stream, stops reconnecting, and ends the HTTP/2 sessions. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopController.abort();
    this.stream?.close();
    await this.loop;
    for (const { sessions } of this.clients.values()) sessions.abort();
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
        out.push(create(WorkerMessageSchema, this.deps.hello()));
        this.stream = out;
        for await (const msg of this.client(address).connect(out, { signal: abort.signal })) {
          if (msg.welcome) {
            failures = 0;
            this.onWelcome(address, msg);
          }
          this.deps.onMessage(msg);
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
        this.isWelcomed = false;
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
      this.deps.onRefused();
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

  private onWelcome(address: string, msg: CoordinatorMessage): void {
    const w = msg.welcome;
    if (!w) return;
    if (w.protocol !== STREAM_PROTOCOL) {
      throw new Error(
        `coordinator ${address} speaks version ${w.protocol || 1} of the worker stream and this worker version ${STREAM_PROTOCOL}: run workers of the coordinator's release`,
      );
    }
    this.heartbeatMs = w.heartbeatIntervalMs || 1000;
    this.welcomeLeaseMs = w.leaseMs || 5000;
    this.isWelcomed = true;
    this.log.info({ coordinator: address, coordinatorId: w.coordinatorId }, 'connected');
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(
      () => this.outgoing.sendNow({ heartbeat: { running: this.deps.heldRefs() } }),
      this.heartbeatMs,
    );
    this.heartbeatTimer.unref();
    for (const w of this.connectedWaiters.splice(0)) w.resolve();
  }
}
