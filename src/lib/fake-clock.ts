import { MAX_TIMER_MS, type Clock, type Timer } from './clock.js';

interface Armed {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A {@link Clock} for unit tests: time stands still until the test moves it, and timers fire
 * only then, in the order they fall due, each at its own due time. It keeps Node's rule that
 * a delay outside 1 ms to {@link MAX_TIMER_MS} fires after 1 ms, so a part that forgets to
 * clamp shows up as a loop in its test rather than in production.
 *
 * The wall clock and the monotonic clock move together, except through {@link setWall},
 * which steps the wall clock alone as NTP or an operator would.
 */
export class FakeClock implements Clock {
  private wall: number;
  private mono: number;
  private seq = 0;
  private readonly armed = new Map<number, Armed>();

  constructor(start: { wallMs?: number; monotonicMs?: number } = {}) {
    this.wall = start.wallMs ?? Date.UTC(2030, 0, 1);
    this.mono = start.monotonicMs ?? 1_000_000;
  }

  now(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const delay = ms >= 1 && ms <= MAX_TIMER_MS ? ms : 1;
    const seq = ++this.seq;
    this.armed.set(seq, { at: this.mono + delay, seq, fn });
    return { clear: () => this.armed.delete(seq) };
  }

  /** The delays of the armed timers from now, soonest first: what a part is waiting for. */
  pending(): number[] {
    return [...this.armed.values()].map((t) => t.at - this.mono).sort((a, b) => a - b);
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, each at its due
   * time. Synchronous: what a timer starts (a statement, the next run of a loop) has not run
   * yet when this returns; see {@link advanceAsync}.
   */
  advance(ms: number): void {
    const until = this.mono + ms;
    for (let t = this.nextDue(until); t; t = this.nextDue(until)) this.fire(t);
    this.moveTo(until);
  }

  /**
   * Moves time forward by `ms` like {@link advance}, but lets promise chains run before and
   * after each timer fires ({@link settle}), so the work a timer starts finishes, and arms its
   * next timer, before time moves on. No real time passes.
   */
  async advanceAsync(ms: number): Promise<void> {
    const until = this.mono + ms;
    await settle();
    for (let t = this.nextDue(until); t; t = this.nextDue(until)) {
      this.fire(t);
      await settle();
    }
    this.moveTo(until);
    await settle();
  }

  /** Steps the wall clock to `wallMs` without moving the monotonic clock or any timer. */
  setWall(wallMs: number): void {
    this.wall = wallMs;
  }

  private nextDue(until: number): Armed | undefined {
    let next: Armed | undefined;
    for (const t of this.armed.values())
      if (t.at <= until && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq)))
        next = t;
    return next;
  }

  private fire(t: Armed): void {
    this.armed.delete(t.seq);
    this.moveTo(t.at);
    t.fn();
  }

  private moveTo(mono: number): void {
    if (mono <= this.mono) return;
    this.wall += mono - this.mono;
    this.mono = mono;
  }
}

/**
 * Lets pending promise chains and `setImmediate` callbacks run, without any time passing on
 * a {@link FakeClock}: a few turns of the event loop, enough for the in-memory fakes of a unit
 * test to answer and for the part under test to act on the answer.
 */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
