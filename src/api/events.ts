import type { Logger } from 'pino';
import type { Db } from '../store/db.js';
import { describeError } from '../lib/errors.js';
import {
  announceEventDemand,
  EVENT_DEMAND_TTL_MS,
  eventsChannel,
  parseEvents,
  type TaskEvent,
} from '../store/events.js';
import { Listener } from '../store/notify.js';

/** Which events a subscriber wants. Unset fields match everything. */
export interface EventFilter {
  taskId?: string;
  queue?: string;
}

type Subscriber = { filter: EventFilter; deliver: (e: TaskEvent) => void };

/** Demand is renewed this often while anyone watches: well inside its time to live. */
const DEMAND_RENEW_MS = EVENT_DEMAND_TTL_MS / 3;
/**
 * After events were switched on, watchers re-read once this much later: a statement that
 * began before the switch, and so did not announce its change, has committed by then.
 */
const SWITCH_ON_RESYNC_MS = 1000;
/** How long {@link EventHub.ready} waits for the LISTEN connection of a process just started. */
const LISTEN_WAIT_MS = 2000;

/**
 * One LISTEN connection per process, fanned out to every SSE stream and gRPC watch in it.
 * NOTIFY is only a hint: subscribers re-read state on (re)connect, so an event lost while the
 * LISTEN connection was down costs freshness, never correctness.
 *
 * Task events are only sent while someone watches: while this hub has subscribers it keeps
 * announcing demand in the database ({@link announceEventDemand}), and when it had to switch
 * events on, it asks its subscribers to re-read once the statements already running are done.
 */
export class EventHub {
  private readonly subscribers = new Set<Subscriber>();
  private readonly listener: Listener;
  private readonly resyncWatchers = new Set<() => void>();
  private demand: Promise<void> = Promise.resolve();
  private renewTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private markListening: () => void = () => undefined;
  private readonly listening = new Promise<void>((r) => (this.markListening = r));

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {
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
        this.markListening();
        this.resync();
      },
    });
  }

  start(): void {
    this.listener.start();
  }

  stop(): Promise<void> {
    this.subscribers.clear();
    this.resyncWatchers.clear();
    this.stopDemand();
    return this.listener.stop();
  }

  /** Number of open subscriptions (SSE streams and watches). */
  get size(): number {
    return this.subscribers.size;
  }

  /**
   * Calls `deliver` for every matching event until the returned function is called.
   * `onResync` runs when events may have been missed (the LISTEN connection came back, or
   * events were just switched on), so the subscriber can re-read. Await {@link ready}
   * before reading the state the events will update.
   */
  subscribe(
    filter: EventFilter,
    deliver: (e: TaskEvent) => void,
    onResync?: () => void,
  ): () => void {
    const sub = { filter, deliver };
    this.subscribers.add(sub);
    if (onResync) this.resyncWatchers.add(onResync);
    if (this.subscribers.size === 1) this.startDemand();
    return () => {
      this.subscribers.delete(sub);
      if (onResync) this.resyncWatchers.delete(onResync);
      if (this.subscribers.size === 0) this.stopDemand();
    };
  }

  /**
   * Resolves once the database knows this process has watchers and this process listens:
   * changes committed by statements that start after it reach the subscribers. Never
   * rejects, and waits at most a couple of seconds for a LISTEN connection that is not up
   * yet; if the database is away, the resync on reconnect covers what is missed.
   */
  async ready(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((r) => {
      timer = setTimeout(r, LISTEN_WAIT_MS);
      timer.unref();
    });
    await Promise.all([this.demand, Promise.race([this.listening, waited])]);
    clearTimeout(timer);
  }

  private startDemand(): void {
    if (this.renewTimer) return;
    this.demand = this.announce();
    this.renewTimer = setInterval(() => void this.announce(), DEMAND_RENEW_MS);
    this.renewTimer.unref();
  }

  private stopDemand(): void {
    clearInterval(this.renewTimer);
    clearTimeout(this.resyncTimer);
    this.renewTimer = undefined;
    this.resyncTimer = undefined;
  }

  private async announce(): Promise<void> {
    try {
      const switchedOn = await announceEventDemand(this.db);
      if (switchedOn && this.renewTimer && !this.resyncTimer) {
        this.resyncTimer = setTimeout(() => {
          this.resyncTimer = undefined;
          this.resync();
        }, SWITCH_ON_RESYNC_MS);
        this.resyncTimer.unref();
      }
    } catch (err) {
      this.logger.warn({ err: describeError(err) }, 'could not announce event watchers');
    }
  }

  private resync(): void {
    for (const w of this.resyncWatchers) w();
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
