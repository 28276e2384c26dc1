import { randomBytes } from 'node:crypto';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import {
  WorkerMessageSchema,
  WorkerService,
  type CoordinatorMessage,
  type WorkerMessage,
} from '../../src/gen/taskqueue/v1/worker_pb.js';
import { Channel } from '../../src/lib/channel.js';
import { STREAM_PROTOCOL } from '../../src/lib/packed.js';
import { track } from '../helpers/resources.js';

/**
 * A worker stream driven by hand, byte for byte what a hostile worker could send: no SDK
 * between the test and the coordinator.
 */
export class RawWorker {
  readonly received: CoordinatorMessage[] = [];
  /** Set when the coordinator ended the stream with an error. */
  error: ConnectError | undefined;
  readonly ended: Promise<void>;
  private readonly out = new Channel<WorkerMessage>();
  private readonly sessions: Http2SessionManager;
  private waiters: Array<() => void> = [];

  constructor(grpcPort: number, token?: string) {
    const url = `http://127.0.0.1:${grpcPort}`;
    this.sessions = new Http2SessionManager(url);
    const client = createClient(
      WorkerService,
      createGrpcTransport({ baseUrl: url, sessionManager: this.sessions }),
    );
    const responses = client.connect(this.out, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    this.ended = (async () => {
      try {
        for await (const m of responses) {
          this.received.push(m);
          for (const w of this.waiters.splice(0)) w();
        }
      } catch (err) {
        this.error = ConnectError.from(err);
      } finally {
        for (const w of this.waiters.splice(0)) w();
      }
    })();
    let open = true;
    track({
      name: 'raw worker',
      isOpen: () => open,
      stop: () => this.close().then(() => void (open = false)),
    });
  }

  /** Sends one message. */
  send(m: MessageInitShape<typeof WorkerMessageSchema>): void {
    this.out.push(create(WorkerMessageSchema, m));
  }

  /** Says hello as `workerId`, with a fresh instance key unless one is given. */
  hello(
    workerId: string,
    opts: {
      instanceKey?: string;
      handlers?: string[];
      queues?: string[];
      credits?: number;
      /** @default STREAM_PROTOCOL */
      protocol?: number;
    } = {},
  ): string {
    const instanceKey = opts.instanceKey ?? randomBytes(32).toString('base64url');
    this.send({
      hello: {
        workerId,
        name: `raw ${workerId}`,
        handlers: opts.handlers ?? ['nothing-here'],
        queues: opts.queues ?? ['raw'],
        concurrency: 1,
        instanceKey,
        protocol: opts.protocol ?? STREAM_PROTOCOL,
      },
      credits: opts.credits ?? 0,
    });
    return instanceKey;
  }

  /** Resolves with the first received message `match` accepts; undefined once the stream ends or time is up. */
  async waitFor(
    match: (m: CoordinatorMessage) => boolean,
    timeoutMs = 10_000,
  ): Promise<CoordinatorMessage | undefined> {
    const deadline = Date.now() + timeoutMs;
    let ended = false;
    void this.ended.then(() => (ended = true));
    while (Date.now() < deadline) {
      const hit = this.received.find(match);
      if (hit || ended) return hit;
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.received.find(match);
  }

  async close(): Promise<void> {
    this.out.close();
    await Promise.race([this.ended, new Promise((r) => setTimeout(r, 2000))]);
    this.sessions.abort();
  }
}
