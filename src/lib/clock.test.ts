import { describe, expect, it } from 'vitest';
import { ClockOffset } from './clock.js';

describe('ClockOffset', () => {
  it('is 0 before any sample', () => {
    expect(new ClockOffset().ms).toBe(0);
  });

  it('takes the sample with the shortest round trip, not the latest', () => {
    const c = new ClockOffset();
    // The other clock is 10 ms ahead. A quick round trip measures it within 0.5 ms.
    c.add(1000, 1001, 1010.5);
    // A round trip of 200 ms whose answer was read early looks like -89.5 ms.
    c.add(2000, 2200, 2010);
    expect(c.ms).toBe(10);
  });

  it('forgets samples older than its window, keeping at least the newest', () => {
    const c = new ClockOffset(1000);
    c.add(0, 1, 10.5); // offset 10, rtt 1
    c.add(5000, 5004, 5022); // offset 20, rtt 4: the first sample is now too old
    expect(c.ms).toBe(20);
  });

  it('keeps at most maxSamples', () => {
    const c = new ClockOffset(60_000, 2);
    c.add(0, 1, 5.5); // offset 5, rtt 1
    c.add(10, 13, 21.5); // offset 10, rtt 3
    c.add(20, 23, 36.5); // offset 15, rtt 3: the first is dropped
    expect(c.ms).toBe(10);
  });
});
