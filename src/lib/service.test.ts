import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from './fake-clock.js';
import { Service, type StopContext } from './service.js';

/** A service whose stop waits for a write the test finishes by hand. */
class Writer extends Service {
  readonly log: string[] = [];
  finishWrite: () => void = () => undefined;
  how: StopContext | undefined;

  constructor(readonly fake: FakeClock) {
    super({ clock: fake });
  }

  protected override onStart(): void {
    this.log.push('started');
    this.after(1000, () => this.log.push('timer fired'));
  }

  protected override async onStop(how: StopContext): Promise<void> {
    this.how = how;
    this.log.push('stopping');
    await new Promise<void>((resolve) => (this.finishWrite = resolve));
    this.log.push('write finished');
  }
}

describe('Service', () => {
  it('starts once, and every stop() returns the same promise with the first options', async () => {
    const s = new Writer(new FakeClock());
    expect(s.state).toBe('new');
    s.start();
    s.start();
    expect(s.log).toEqual(['started']);
    expect(s.state).toBe('running');

    const first = s.stop({ graceful: false });
    const second = s.stop({ graceful: true });
    expect(second).toBe(first);
    expect(s.stopRequested).toBe(true);
    expect(s.state).toBe('stopping');
    await settle();
    expect(s.how?.graceful).toBe(false);
    expect(s.log).toEqual(['started', 'stopping']);

    s.finishWrite();
    await first;
    expect(s.state).toBe('stopped');
    expect(s.log).toEqual(['started', 'stopping', 'write finished']);
    await expect(s.whenStopped()).resolves.toBeUndefined();
  });

  it('clears its timers on stop, so nothing it armed fires afterwards', async () => {
    const clock = new FakeClock();
    const s = new Writer(clock);
    s.start();
    expect(clock.pending()).toEqual([1000]);
    const stopping = s.stop();
    expect(clock.pending()).toEqual([]);
    await clock.advanceAsync(5000);
    expect(s.log).not.toContain('timer fired');
    s.finishWrite();
    await stopping;
  });

  it('gives up waiting after timeoutMs and tells the service to stop retrying', async () => {
    const clock = new FakeClock();
    const s = new Writer(clock);
    s.start();
    let stopped = false;
    void s.stop({ timeoutMs: 3000 }).then(() => (stopped = true));
    await clock.advanceAsync(2999);
    expect(stopped).toBe(false);
    expect(s.how?.signal.aborted).toBe(false);
    await clock.advanceAsync(1);
    expect(stopped).toBe(true);
    expect(s.how?.signal.aborted).toBe(true);
    expect(s.state).toBe('stopped');
    expect(s.log).toEqual(['started', 'stopping']); // the write never finished
  });

  it('stops at once when never started, and cannot start again once stopped', async () => {
    const s = new Writer(new FakeClock());
    const stopping = s.stop();
    await settle();
    s.finishWrite();
    await stopping;
    expect(s.state).toBe('stopped');
    expect(() => s.start()).toThrow(/was stopped/);
    expect(s.log).toEqual(['stopping', 'write finished']);
  });
});
