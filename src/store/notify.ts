import pg from 'pg';
import type { Logger } from 'pino';
import { describeError } from '../lib/errors.js';
import { sleep } from '../lib/time.js';

/** Options for {@link Listener}. */
export interface ListenerOptions {
  url: string;
  channels: string[];
  onNotification: (channel: string, payload: string) => void;
  /** Called after every (re)connect, so the owner can catch up on what it may have missed. */
  onConnect?: () => void;
  logger?: Logger;
  /** Delay before reconnecting after a lost connection. @default 500 */
  reconnectDelayMs?: number;
}

/**
 * A dedicated connection that LISTENs on some channels and reconnects when lost.
 * NOTIFY is only ever a hint in this system: every listener also polls, so a lost
 * notification costs latency, never a task. It needs a direct connection (not PgBouncer in
 * transaction mode); when it cannot connect, owners keep working on their poll.
 */
export class Listener {
  private client: pg.Client | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private connected = false;

  constructor(private readonly options: ListenerOptions) {}

  /** True while the LISTEN connection is up. */
  get isConnected(): boolean {
    return this.connected;
  }

  /** Connects in the background and keeps reconnecting until {@link stop}. */
  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    const delay = this.options.reconnectDelayMs ?? 500;
    while (!this.stopped) {
      const client = new pg.Client({
        connectionString: this.options.url,
        application_name: 'taskq-listen',
        // Notice a connection cut by a partition, rather than wait on it in silence.
        keepAlive: true,
        keepAliveInitialDelayMillis: 5000,
      });
      const lost = new Promise<void>((resolve) => {
        client.on('error', (err) => {
          this.options.logger?.warn({ err: err.message }, 'LISTEN connection lost');
          resolve();
        });
        client.on('end', () => resolve());
      });
      client.on('notification', (n) => this.options.onNotification(n.channel, n.payload ?? ''));
      try {
        await client.connect();
        for (const ch of this.options.channels)
          await client.query(`LISTEN ${client.escapeIdentifier(ch)}`);
        this.client = client;
        this.connected = true;
        this.options.onConnect?.();
        // stop() may have come while connecting: then the abort already fired.
        const stopped = new Promise<void>((r) => {
          if (this.abort.signal.aborted) r();
          else this.abort.signal.addEventListener('abort', () => r(), { once: true });
        });
        await Promise.race([lost, stopped]);
      } catch (err) {
        if (!this.stopped)
          this.options.logger?.warn(
            { err: describeError(err) },
            'LISTEN connect failed; polling meanwhile',
          );
      }
      this.connected = false;
      this.client = undefined;
      await client.end().catch(() => undefined);
      if (!this.stopped) await sleep(delay, this.abort.signal);
    }
  }

  /** Closes the connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop;
  }
}
