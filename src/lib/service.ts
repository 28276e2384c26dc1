import { MAX_TIMER_MS, systemClock, type Clock, type Timer } from './clock.js';
import { TaskQueueError } from './errors.js';

/** How {@link Service.stop} stops. */
export interface StopOptions {
  /**
   * true: finish the work in hand first (write the results already received, let the round in
   * flight deliver, hand leadership over). false: drop what others redo anyway (workers resend
   * unacknowledged results, leases and terms expire); statements already sent are still
   * awaited, since they cannot be called back.
   * @default true
   */
  graceful?: boolean;
  /**
   * The longest `stop()` waits, in ms of monotonic time. When it passes, `stop()` resolves and
   * the service gives up what it still holds (a retry in backoff ends).
   * @default Infinity (no limit)
   */
  timeoutMs?: number;
}

/** What a service's {@link Service.onStop} is asked to do. */
export interface StopContext {
  graceful: boolean;
  /** Aborts when {@link StopOptions.timeoutMs} has passed: stop waiting and retrying. */
  signal: AbortSignal;
}

/** Where a service is in its life. It never goes back: a stopped service stays stopped. */
export type ServiceState = 'new' | 'running' | 'stopping' | 'stopped';

/** Options every {@link Service} takes. */
export interface ServiceOptions {
  /** Where the service's timers and "now" come from. Tests pass a `FakeClock`. @default systemClock */
  clock?: Clock;
}

const NO_TIMER: Timer = { clear: () => undefined };

/**
 * The lifecycle every long-running part shares (River's `startstop.BaseStartStop`):
 * `start()` once, `stop(options)` as often as callers like (every call returns the same
 * promise, with the first call's options), {@link state} and {@link whenStopped} to report
 * "stopped", and timers armed through {@link after} on the service's clock, which are all
 * cleared when it stops. A subclass fills in {@link onStart} and {@link onStop}.
 */
export abstract class Service {
  /** The service's clock: its timers, and "now" where it needs one. */
  protected readonly clock: Clock;
  // ES private fields, so that no subclass's names can collide with these.
  #state: ServiceState = 'new';
  #stopping: Promise<void> | undefined;
  readonly #timers = new Set<Timer>();
  #markStopped: () => void = () => undefined;
  readonly #stopped = new Promise<void>((resolve) => (this.#markStopped = resolve));

  constructor(options: ServiceOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  /** Where the service is in its life. */
  get state(): ServiceState {
    return this.#state;
  }

  /** True once `stop()` was called: long runs check it between steps, and start nothing new. */
  get stopRequested(): boolean {
    return this.#stopping !== undefined;
  }

  /** Resolves once the service has stopped, whoever stopped it. */
  whenStopped(): Promise<void> {
    return this.#stopped;
  }

  /**
   * Starts the background work. A second call while running does nothing.
   * @throws TaskQueueError (`stopped`) once stop() was called: a service does not restart.
   */
  start(): void {
    if (this.#state === 'running') return;
    if (this.#state !== 'new')
      throw new TaskQueueError('stopped', `${this.constructor.name} was stopped; make a new one`);
    this.#state = 'running';
    this.onStart();
  }

  /**
   * Stops: nothing new starts, the timers armed through {@link after} are cleared, and the
   * work in hand ends as `options` say. Idempotent: a repeated call returns the same promise.
   * A service stopped before it started stops at once.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= this.#runStop(options);
    return this.#stopping;
  }

  /** Starts the background work; called once, by {@link start}. */
  protected onStart(): void {
    // Nothing runs in the background by default: the service works when called.
  }

  /** Ends the work in hand as `how` says; called once, by {@link stop}. */
  protected onStop(_how: StopContext): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Calls `fn` once after `ms` on the service's clock (monotonic). Cleared when the service
   * stops; once stop() was called, nothing is armed.
   */
  protected after(ms: number, fn: () => void): Timer {
    if (this.#stopping) return NO_TIMER;
    const timer = this.clock.setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
    return {
      clear: () => {
        timer.clear();
        this.#timers.delete(timer);
      },
    };
  }

  async #runStop(options: StopOptions): Promise<void> {
    this.#state = 'stopping';
    for (const t of this.#timers) t.clear();
    this.#timers.clear();
    const abort = new AbortController();
    const timeoutMs = options.timeoutMs ?? Infinity;
    let deadline: Timer | undefined;
    const work = Promise.resolve().then(() =>
      this.onStop({ graceful: options.graceful ?? true, signal: abort.signal }),
    );
    try {
      if (!Number.isFinite(timeoutMs)) return await work;
      // Past the deadline the work may still fail: that is no longer the caller's concern.
      void work.catch(() => undefined);
      await Promise.race([
        work,
        new Promise<void>((resolve) => {
          deadline = this.clock.setTimeout(
            () => {
              abort.abort();
              resolve();
            },
            Math.min(MAX_TIMER_MS, Math.max(1, timeoutMs)),
          );
        }),
      ]);
    } finally {
      deadline?.clear();
      this.#state = 'stopped';
      this.#markStopped();
    }
  }
}
