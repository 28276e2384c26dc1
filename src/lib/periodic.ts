/**
 * Runs `work` now and then again `intervalMs` after each run ends (or after the delay the
 * run returns, when it returns one), so runs never overlap and a slow run delays the next
 * instead of piling up. The timer does not keep the process alive. `stop()` waits for the
 * run in progress.
 */
export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly work: () => Promise<number | void>,
  ) {}

  /** True once `stop()` was called: long runs check it between steps. */
  get isStopped(): boolean {
    return this.stopped;
  }

  start(): void {
    const tick = (): void => {
      this.running = this.work().then(
        (next) => this.schedule(tick, next ?? this.intervalMs),
        () => this.schedule(tick, this.intervalMs),
      );
    };
    tick();
  }

  private schedule(tick: () => void, ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(tick, ms);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
