import type { Logger } from 'pino';
import { describeError } from '../lib/errors.js';
import { Periodic } from '../lib/periodic.js';
import { Service, type ServiceOptions, type StopContext } from '../lib/service.js';
import type { Db } from '../store/db.js';
import { acquireLeadership, releaseLeadership, type LeaderTerm } from '../store/leader.js';

/** The statements the elector runs; unit tests replace them. */
export const leadershipStore = { acquireLeadership, releaseLeadership };

/** Options for {@link LeaderElector}. */
export interface LeaderElectorOptions extends ServiceOptions {
  /** What is led, e.g. 'maintenance'. */
  role: string;
  /** This process's identity. */
  holder: string;
  /** How long a term lasts without renewal. */
  ttlMs: number;
  /** How often to renew (or try to take over), monotonic. Must be well under ttlMs. */
  renewMs: number;
  logger: Logger;
  onChange?: (term: LeaderTerm | null) => void;
  /** @default leadershipStore */
  store?: Partial<typeof leadershipStore>;
}

/**
 * Keeps trying to lead `role` through the `leader` table. Being leader here is only a hint
 * for which loops to run: every maintenance write re-checks the term in the database, so a
 * process that was paused past its TTL (and still believes it leads) cannot write.
 *
 * A graceful stop hands leadership over at once; `stop({ graceful: false })` leaves the term
 * to run out, as a crash would.
 */
export class LeaderElector extends Service {
  private term: LeaderTerm | null = null;
  /**
   * Monotonic: the term is surely over after this, even if the database is unreachable,
   * however the wall clock is stepped meanwhile.
   */
  private validUntil = 0;
  private readonly loop: Periodic;
  private readonly store: typeof leadershipStore;

  constructor(
    private readonly db: Db,
    private readonly options: LeaderElectorOptions,
  ) {
    super(options);
    this.store = { ...leadershipStore, ...options.store };
    this.loop = new Periodic(options.renewMs, () => this.renew(), { clock: this.clock });
  }

  /** The current term, or null when this process does not lead. */
  current(): LeaderTerm | null {
    if (this.term && this.clock.monotonic() >= this.validUntil) this.setTerm(null);
    return this.term;
  }

  protected override onStart(): void {
    this.loop.start();
  }

  /** Stops renewing and, when graceful, hands leadership over at once. */
  protected override async onStop(how: StopContext): Promise<void> {
    await this.loop.stop(how);
    const term = this.term;
    this.setTerm(null);
    if (term && how.graceful)
      await this.store.releaseLeadership(this.db, term).catch(() => undefined);
  }

  private async renew(): Promise<void> {
    const started = this.clock.monotonic();
    try {
      const term = await this.store.acquireLeadership(
        this.db,
        this.options.role,
        this.options.holder,
        this.options.ttlMs,
      );
      if (term) this.validUntil = started + this.options.ttlMs;
      this.setTerm(term);
    } catch (err) {
      this.options.logger.warn({ err: describeError(err) }, 'leadership renewal failed');
      this.current(); // drops the term once its TTL has surely passed
    }
  }

  private setTerm(term: LeaderTerm | null): void {
    const before = this.term;
    if (before?.epoch === term?.epoch && before?.holder === term?.holder) return;
    this.term = term;
    if (term) this.options.logger.info({ role: term.role, epoch: term.epoch }, 'elected leader');
    else if (before)
      this.options.logger.warn({ role: before.role, epoch: before.epoch }, 'no longer leader');
    this.options.onChange?.(term);
  }
}
