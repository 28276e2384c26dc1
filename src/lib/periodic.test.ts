import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from './fake-clock.js';
import { Periodic } from './periodic.js';

/** A run the test ends by hand, recording when (on the fake clock) each run began. */
function controlledWork(clock: FakeClock) {
  const began: number[] = [];
  let finish: (next?: number) => void = () => undefined;
  const work = () =>
    new Promise<number | void>((resolve) => {
      began.push(clock.monotonic());
      finish = resolve;
    });
  return { began, work, finish: (next?: number) => finish(next) };
}

describe('Periodic', () => {
  it('runs at once, then an interval after each run ends: a slow run delays the next', async () => {
    const clock = new FakeClock({ monotonicMs: 0 });
    const w = controlledWork(clock);
    const loop = new Periodic(1000, w.work, { clock });
    loop.start();
    expect(w.began).toEqual([0]);

    // The run takes 2.5 s: no second run starts meanwhile.
    await clock.advanceAsync(2500);
    expect(w.began).toEqual([0]);
    w.finish();
    await clock.advanceAsync(999);
    expect(w.began).toEqual([0]);
    await clock.advanceAsync(1);
    expect(w.began).toEqual([0, 3500]);

    // A run may ask for its next one sooner.
    w.finish(200);
    await clock.advanceAsync(200);
    expect(w.began).toEqual([0, 3500, 3700]);
    w.finish();
    await loop.stop();
  });

  it('with immediate: false, first runs one interval after start', async () => {
    const clock = new FakeClock({ monotonicMs: 0 });
    const w = controlledWork(clock);
    const loop = new Periodic(1000, w.work, { clock, immediate: false });
    loop.start();
    expect(w.began).toEqual([]);
    await clock.advanceAsync(1000);
    expect(w.began).toEqual([1000]);
    w.finish();
    await loop.stop();
  });

  it('keeps going after a run fails', async () => {
    const clock = new FakeClock({ monotonicMs: 0 });
    let runs = 0;
    const loop = new Periodic(
      1000,
      () => (++runs === 1 ? Promise.reject(new Error('db down')) : Promise.resolve()),
      { clock },
    );
    loop.start();
    await clock.advanceAsync(2000);
    expect(runs).toBe(3);
    await loop.stop();
  });

  it('stop() waits for the run in progress, and nothing runs after it', async () => {
    const clock = new FakeClock({ monotonicMs: 0 });
    const w = controlledWork(clock);
    const loop = new Periodic(1000, w.work, { clock });
    loop.start();
    let stopped = false;
    void loop.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    w.finish();
    await settle();
    expect(stopped).toBe(true);
    expect(clock.pending()).toEqual([]);
    await clock.advanceAsync(10_000);
    expect(w.began).toEqual([0]);
  });
});
