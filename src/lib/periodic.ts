import { Service, type ServiceOptions } from './service.js';

/** Options for {@link Periodic}. */
export interface PeriodicOptions extends ServiceOptions {
  /**
   * Run at once on start(); false waits one interval first (a loop that has nothing to do
   * until something has gathered).
   * @default true
   */
  immediate?: boolean;
}

/**
 * Runs `work` and then again `intervalMs` (monotonic) after each run ends, or after the
 * delay the run returns when it returns one, so runs never overlap and a slow run delays the
 * next instead of piling up. The timer does not keep the process alive. `stop()` waits for
 * the run in progress (graceful or not: it is a statement already sent); the run can check
 * {@link Service.stopRequested} between steps.
 */
export class Periodic extends Service {
  private running: Promise<void> = Promise.resolve();
  private readonly immediate: boolean;

  constructor(
    private readonly intervalMs: number,
    private readonly work: () => Promise<number | void>,
    options: PeriodicOptions = {},
  ) {
    super(options);
    this.immediate = options.immediate ?? true;
  }

  protected override onStart(): void {
    if (this.immediate) this.tick();
    else this.after(this.intervalMs, this.tick);
  }

  protected override async onStop(): Promise<void> {
    await this.running;
  }

  private readonly tick = (): void => {
    this.running = this.work().then(
      (next) => {
        this.after(next ?? this.intervalMs, this.tick);
      },
      () => {
        this.after(this.intervalMs, this.tick);
      },
    );
  };
}
