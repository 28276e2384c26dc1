import type { Logger } from 'pino';
import { describeError } from '../lib/errors.js';
import { Periodic } from '../lib/periodic.js';
import type { Db } from '../store/db.js';
import { acquireLeadership, releaseLeadership, type LeaderTerm } from '../store/leader.js';

/** Options for {@link LeaderElector}. */
export interface LeaderElectorOptions {
  /** What is led, e.g. 'maintenance'. */
  role: string;
  /** This process's identity. */
  holder: string;
  /** How long a term lasts without renewal. */
  ttlMs: number;
  /** How often to renew (or try to take over). Must be well under ttlMs. */
  renewMs: number;
  logger: Logger;
  onChange?: (term: LeaderTerm | null) => void;
}

/**
 * Keeps trying to lead `role` through the `leader` table. Being leader here is only a hint
 * for which loops to run: every maintenance write re-checks the term in the database, so a
 * process that was paused past its TTL (and still believes it leads) cannot write.
 */
export class LeaderElector {
  private term: LeaderTerm | null = null;
  /** Our clock: the term is surely over after this, even if the database is unreachable. */
  private validUntil = 0;
  private readonly loop: Periodic;

  constructor(
    private readonly db: Db,
    private readonly options: LeaderElectorOptions,
  ) {
    this.loop = new Periodic(options.renewMs, () => this.renew());
  }

  /** The current term, or null when this process does not lead. */
  current(): LeaderTerm | null {
    if (this.term && Date.now() >= this.validUntil) this.setTerm(null);
    return this.term;
  }

  start(): void {
    this.loop.start();
  }

  /** Stops renewing and hands leadership over at once. */
  async stop(): Promise<void> {
    await this.loop.stop();
    const term = this.term;
    this.setTerm(null);
    if (term) await releaseLeadership(this.db, term).catch(() => undefined);
  }

  private async renew(): Promise<void> {
    const started = Date.now();
    try {
      const term = await acquireLeadership(
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
