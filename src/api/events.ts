import type { Logger } from 'pino';
import type { Db } from '../store/db.js';
import { eventsChannel, parseEvents, type TaskEvent } from '../store/events.js';
import { Listener } from '../store/notify.js';

/** Which events a subscriber wants. Unset fields match everything. */
export interface EventFilter {
  taskId?: string;
  queue?: string;
}

type Subscriber = { filter: EventFilter; deliver: (e: TaskEvent) => void };

/**
 * One LISTEN connection per process, fanned out to every SSE stream and gRPC watch in it.
 * NOTIFY is only a hint: subscribers re-read state on (re)connect, so an event lost while the
 * LISTEN connection was down costs freshness, never correctness.
 */
export class EventHub {
  private readonly subscribers = new Set<Subscriber>();
  private readonly listener: Listener;
  private readonly reconnectWatchers = new Set<() => void>();

  constructor(db: Db, logger: Logger) {
    this.listener = new Listener({
      url: db.url,
      channels: [eventsChannel(db)],
      logger,
      // Every process with a REST API hears every task change; most of the time nobody in
      // it is watching, and then the payload is not even parsed.
      onNotification: (_channel, payload) => {
        if (this.subscribers.size > 0) this.publish(parseEvents(payload));
      },
      onConnect: () => {
        for (const w of this.reconnectWatchers) w();
      },
    });
  }

  start(): void {
    this.listener.start();
  }

  stop(): Promise<void> {
    this.subscribers.clear();
    return this.listener.stop();
  }

  /** Number of open subscriptions (SSE streams and watches). */
  get size(): number {
    return this.subscribers.size;
  }

  /**
   * Calls `deliver` for every matching event until the returned function is called.
   * `onReconnect` runs after the LISTEN connection comes back, so the subscriber can re-read
   * what it may have missed.
   */
  subscribe(
    filter: EventFilter,
    deliver: (e: TaskEvent) => void,
    onReconnect?: () => void,
  ): () => void {
    const sub = { filter, deliver };
    this.subscribers.add(sub);
    if (onReconnect) this.reconnectWatchers.add(onReconnect);
    return () => {
      this.subscribers.delete(sub);
      if (onReconnect) this.reconnectWatchers.delete(onReconnect);
    };
  }

  private publish(events: TaskEvent[]): void {
    for (const e of events) {
      for (const s of this.subscribers) {
        if (s.filter.taskId && s.filter.taskId !== e.taskId) continue;
        if (s.filter.queue && s.filter.queue !== e.queue) continue;
        s.deliver(e);
      }
    }
  }
}
