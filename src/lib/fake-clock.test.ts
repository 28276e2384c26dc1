import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, sleepOn } from './clock.js';
import { FakeClock } from './fake-clock.js';

describe('FakeClock', () => {
  it('fires timers in due order, each at its own time, only when advanced', () => {
    const clock = new FakeClock({ wallMs: 0, monotonicMs: 0 });
    const fired: Array<[string, number, number]> = [];
    const at = (name: string) => () => fired.push([name, clock.monotonic(), clock.now()]);
    clock.setTimeout(at('b'), 200);
    clock.setTimeout(at('a'), 100);
    const cleared = clock.setTimeout(at('never'), 150);
    cleared.clear();
    expect(fired).toEqual([]);
    clock.advance(250);
    expect(fired).toEqual([
      ['a', 100, 100],
      ['b', 200, 200],
    ]);
    expect(clock.monotonic()).toBe(250);
  });

  it('fires a timer armed by another within the same advance', () => {
    const clock = new FakeClock({ monotonicMs: 0 });
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.monotonic());
      clock.setTimeout(() => fired.push(clock.monotonic()), 50);
    }, 100);
    clock.advance(1000);
    expect(fired).toEqual([100, 150]);
  });

  it("keeps Node's rule: a delay past 24.8 days fires after 1 ms", () => {
    const clock = new FakeClock();
    clock.setTimeout(() => undefined, MAX_TIMER_MS);
    clock.setTimeout(() => undefined, MAX_TIMER_MS + 1);
    expect(clock.pending()).toEqual([1, MAX_TIMER_MS]);
  });

  it('steps the wall clock alone, leaving monotonic time and timers where they were', () => {
    const clock = new FakeClock({ wallMs: 10_000, monotonicMs: 0 });
    let fired = false;
    clock.setTimeout(() => (fired = true), 100);
    clock.setWall(0);
    expect(clock.monotonic()).toBe(0);
    expect(clock.pending()).toEqual([100]);
    clock.advance(100);
    expect(fired).toBe(true);
    expect(clock.now()).toBe(100);
  });

  it('drives sleepOn, which an abort ends early', async () => {
    const clock = new FakeClock({ monotonicMs: 0 });
    let woke = false;
    const slept = sleepOn(clock, 500).then(() => (woke = true));
    await clock.advanceAsync(499);
    expect(woke).toBe(false);
    await clock.advanceAsync(1);
    await slept;
    expect(woke).toBe(true);

    const abort = new AbortController();
    const aborted = sleepOn(clock, 10_000, abort.signal);
    abort.abort();
    await aborted;
    expect(clock.pending()).toEqual([]);
  });
});
