import type { Logger } from 'pino';
import type { Db } from '../../store/db.js';
import type { Timer } from '../../lib/clock.js';
import { describeError } from '../../lib/errors.js';
import { Periodic } from '../../lib/periodic.js';
import { Service, type ServiceOptions } from '../../lib/service.js';
import {
  announceEventDemand,
  changedSince,
  EVENT_DEMAND_TTL_MS,
  eventsChannel,
  parseEvents,
  type TaskChange,
  type TaskEvent,
} from '../../store/events.js';
import { Listener } from '../../store/notify.js';

/** Which events a subscriber wants. Unset fields match everything. */
export interface EventFilter {
  taskId?: string;
  /** Any of these tasks; the subscriber may add to the set as it learns of more. */
  taskIds?: ReadonlySet<string>;
  queue?: string;
}

type Subscriber = { filter: EventFilter; deliver: (e: TaskEvent) => void };

/** The statements the hub runs; unit tests replace them. */
export const eventHubStore = { announceEventDemand, changedSince };

/** Options for {@link EventHub}. */
export interface EventHubOptions extends ServiceOptions {
  /** @default eventHubStore */
  store?: Partial<typeof eventHubStore>;
}

/** Demand is renewed this often (monotonic) while anyone watches: well inside its time to live. */
const DEMAND_RENEW_MS = EVENT_DEMAND_TTL_MS / 3;
/**
 * After events were switched on (by any process), watchers re-read at these offsets: a
 * statement that began before the switch, and so did not announce its change, has
 * committed by then (the second covers one that waited on a row lock; pools end idle
 * transactions after 5 s).
 */
const SWITCH_ON_RESYNCS_MS = [1000, 6000];
/** Longest {@link EventHub.ready} waits for the database and for the LISTEN connection. */
const READY_WAIT_MS = 2000;

/**
 * One LISTEN connection per process, fanned out to every SSE stream and gRPC watch in it.
 * NOTIFY is only a hint: subscribers re-read state on (re)connect, so an event lost while the
 * LISTEN connection was down costs freshness, never correctness.
 *
 * Task events are only sent while someone watches: while this hub has subscribers it keeps
 * announcing demand in the database ({@link announceEventDemand}), and when it had to switch
 * events on, it asks its subscribers to re-read once the statements already running are done.
 * Stopping ends every subscription and the LISTEN connection, idempotently.
 */
export class EventHub extends Service {
  private readonly subscribers = new Set<Subscriber>();
  private readonly listener: Listener;
  private readonly resyncWatchers = new Set<() => void>();
  private demand: Promise<void> = Promise.resolve();
  /** Renews demand while anyone watches; a new one each time watching begins. */
  private renewal: Periodic | undefined;
  private announcing = false;
  /** Resyncs armed for the switch-on at this instant (our monotonic clock, ms). */
  private resyncsFor: number | null = null;
  private resyncTimers: Timer[] = [];
  private markListening: () => void = () => undefined;
  private readonly listening = new Promise<void>((r) => (this.markListening = r));
  /** Resolves READY_WAIT_MS after start(): how long a new process waits for LISTEN, at most. */
  private listenGrace: Promise<void> = Promise.resolve();
  private readonly store: typeof eventHubStore;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    options: EventHubOptions = {},
  ) {
    super(options);
    this.store = { ...eventHubStore, ...options.store };
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

  protected override onStart(): void {
    this.listenGrace = new Promise((r) => this.after(READY_WAIT_MS, r));
    this.listener.start();
  }

  /** Stops listening; later subscriptions are accepted but hear nothing. */
  protected override async onStop(): Promise<void> {
    this.subscribers.clear();
    this.resyncWatchers.clear();
    await Promise.all([this.stopDemand(), this.listener.stop()]);
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
    if (this.stopRequested) return () => undefined;
    const sub = { filter, deliver };
    this.subscribers.add(sub);
    if (onResync) this.resyncWatchers.add(onResync);
    if (this.subscribers.size === 1) this.startDemand();
    return () => {
      this.subscribers.delete(sub);
      if (onResync) this.resyncWatchers.delete(onResync);
      if (this.subscribers.size === 0) void this.stopDemand();
    };
  }

  /**
   * The tasks (of `queue`) changed after `sinceMs`, with their current state, newest first,
   * at most `limit`: what a watcher that resumes with Last-Event-ID missed.
   */
  changedSince(sinceMs: number, queue: string | null, limit: number): Promise<TaskChange[]> {
    return this.store.changedSince(this.db, sinceMs, queue, limit);
  }

  /**
   * Resolves once the database knows this process has watchers and this process listens:
   * changes committed by statements that start after it reach the subscribers. Never
   * rejects, and waits at most READY_WAIT_MS for either (a database that stalls, a LISTEN
   * connection that cannot be made); what is missed then, the resyncs cover.
   */
  async ready(): Promise<void> {
    let timer: Timer | undefined;
    // On the clock directly, not through after(): a ready() after stop() must still end.
    const waited = new Promise<void>((r) => (timer = this.clock.setTimeout(r, READY_WAIT_MS)));
    await Promise.race([
      Promise.all([this.demand, Promise.race([this.listening, this.listenGrace])]),
      waited,
    ]);
    timer?.clear();
  }

  private startDemand(): void {
    if (this.renewal || this.stopRequested) return;
    this.demand = this.announce();
    this.renewal = new Periodic(DEMAND_RENEW_MS, () => this.announce(), {
      clock: this.clock,
      immediate: false,
    });
    this.renewal.start();
  }

  /** Stops renewing demand (it lapses by itself); resolves once an announce in flight ends. */
  private stopDemand(): Promise<void> {
    const renewal = this.renewal;
    this.renewal = undefined;
    for (const t of this.resyncTimers) t.clear();
    this.resyncTimers = [];
    this.resyncsFor = null;
    return renewal?.stop() ?? Promise.resolve();
  }

  private async announce(): Promise<void> {
    if (this.announcing) return; // the previous one still waits on the database
    this.announcing = true;
    try {
      const { sinceSwitchOnMs } = await this.store.announceEventDemand(this.db);
      if (this.renewal) this.armResyncs(sinceSwitchOnMs);
    } catch (err) {
      this.logger.warn({ err: describeError(err) }, 'could not announce event watchers');
    } finally {
      this.announcing = false;
    }
  }

  /**
   * Events went on `sinceMs` ago, maybe by another process: re-read at the offsets still
   * ahead, once per switch-on.
   */
  private armResyncs(sinceMs: number): void {
    const switchedAt = Math.round(this.clock.monotonic() - sinceMs);
    if (this.resyncsFor !== null && Math.abs(this.resyncsFor - switchedAt) < 50) return;
    for (const t of this.resyncTimers) t.clear();
    this.resyncsFor = switchedAt;
    this.resyncTimers = SWITCH_ON_RESYNCS_MS.filter((at) => at > sinceMs).map((at) =>
      this.after(at - sinceMs, () => this.resync()),
    );
  }

  private resync(): void {
    for (const w of this.resyncWatchers) w();
  }

  private publish(events: TaskEvent[]): void {
    for (const e of events) {
      for (const s of this.subscribers) {
        if (s.filter.taskId && s.filter.taskId !== e.taskId) continue;
        if (s.filter.taskIds && !s.filter.taskIds.has(e.taskId)) continue;
        if (s.filter.queue && s.filter.queue !== e.queue) continue;
        s.deliver(e);
      }
    }
  }
}
