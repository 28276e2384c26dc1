import type { Logger } from 'pino';
import { ClockOffset, MAX_TIMER_MS, type Timer } from '../lib/clock.js';
import { describeError } from '../lib/errors.js';
import { Periodic } from '../lib/periodic.js';
import { Service, type ServiceOptions, type StopContext } from '../lib/service.js';
import { claimDue, limitedQueues, nextDueAt, type ClaimNotice } from '../store/claim.js';
import { releaseClaims } from '../store/leases.js';
import type { Db } from '../store/db.js';
import type { ClaimedTask } from '../store/types.js';
import { packAssignments } from '../lib/packed.js';
import { startSpan, traceparentOf } from '../lib/trace.js';
import type { Registry, WorkerSession } from './registry.js';

/**
 * The least delay before claiming again for tasks a rate limit held back: the time the claim
 * gives is on the database's clock, and our estimate of its offset can be off by half a round
 * trip, so a time that looks past may not be. This bounds the claims spent finding out.
 */
const HELD_RETRY_MIN_MS = 5;

/** The statements the dispatcher runs; unit tests replace them. */
export const dispatcherStore = { claimDue, limitedQueues, nextDueAt, releaseClaims };

/** Options for {@link Dispatcher}. */
export interface DispatcherOptions extends ServiceOptions {
  /** How long a claimed task's lease lasts before the worker must extend it. */
  leaseMs: number;
  /** Fallback poll interval (monotonic). */
  pollMs: number;
  /**
   * A worker not heard from for this long gets no new tasks until it speaks again: a
   * paused (SIGSTOP) or partitioned worker keeps its stream open but cannot run anything.
   * Measured on the clock's wall time, which is what the registry stamps `lastSeenAt` with.
   */
  silentAfterMs: number;
  logger: Logger;
  /** Called with every batch handed to workers (metrics, tests). */
  onDispatched?: (tasks: ClaimedTask[]) => void;
  /** @default dispatcherStore */
  store?: Partial<typeof dispatcherStore>;
}

/** Workers that serve exactly the same queues and handlers share one claim statement. */
interface Group {
  key: string;
  queues: string[];
  /** null: some member accepts any command (shell), so no handler filter applies. */
  handlers: string[] | null;
  /** The labels all members have. */
  labels: Record<string, string>;
  members: WorkerSession[];
}

/**
 * Hands due tasks to workers with free credits.
 *
 * It wakes on NOTIFY (a task became due), on a timer armed for the next future due time,
 * on credits returned by workers, and on a fallback poll. One round runs at a time; wakes
 * during a round make it run again. A group whose last claim came back short is known to
 * be empty until the next wake, so returning credits alone never hammers the database with
 * empty claims.
 *
 * Due times are wall-clock instants of the database; the timer for one is armed on the
 * monotonic clock, with the delay worked out once from our wall clock and the measured
 * offset between the two. Stopping waits for the round in flight to deliver what it claimed
 * and for a next-due query in flight, so nothing touches the database after stop() resolves.
 */
export class Dispatcher extends Service {
  private wakeSeq = 0;
  private readonly emptyAt = new Map<string, number>();
  private running = false;
  private again = false;
  private readonly poll: Periodic;
  private dueTimer: Timer | undefined;
  /** What the due timer is armed for: our wall clock, ms. */
  private dueAt = Infinity;
  /** Database clock minus ours, measured on each next-due query. */
  private readonly dbClock = new ClockOffset();
  private queueRotation = 0;
  /** Queues with concurrency or rate limits, refreshed on every poll. */
  private limited = new Set<string>();
  /**
   * Queues whose last claim found tasks with a group or a rate key: claimed on the
   * serialised path too, until a claim finds none.
   */
  private readonly laned = new Set<string>();
  private idle: Promise<void> = Promise.resolve();
  private readonly refreshes = new Set<Promise<void>>();
  private readonly store: typeof dispatcherStore;

  constructor(
    private readonly db: Db,
    private readonly registry: Registry,
    private readonly options: DispatcherOptions,
  ) {
    super(options);
    this.store = { ...dispatcherStore, ...options.store };
    // Each poll wakes a round and asks for the next due time without waiting for either, so
    // a slow query does not delay the next poll.
    this.poll = new Periodic(
      options.pollMs,
      () => {
        this.wake();
        this.refresh();
        return Promise.resolve();
      },
      { clock: this.clock },
    );
  }

  protected override onStart(): void {
    this.poll.start();
  }

  protected override async onStop(how: StopContext): Promise<void> {
    await this.poll.stop(how);
    await Promise.all([this.idle, ...this.refreshes]);
  }

  /** Something may be claimable: new tasks, a timer, a poll. */
  wake(): void {
    this.wakeSeq++;
    this.kick();
  }

  /**
   * Tasks finished. A limited or laned queue's last claim may have stopped at a limit or a
   * group's share rather than at its end, so a finished task of one is a reason to look again.
   */
  finished(queues: Iterable<string>): void {
    for (const q of queues) {
      if (this.serialised(q)) return this.wake();
    }
  }

  /** Whether `queue` is claimed on the serialised path (limits, groups, rate keys). */
  private serialised(queue: string): boolean {
    return this.limited.has(queue) || this.laned.has(queue);
  }

  /** What a claim of `queue` learnt: whether it has lanes, and when a rate limit frees. */
  private noticed(queue: string, notice: ClaimNotice): void {
    if (notice.lanes) this.laned.add(queue);
    else this.laned.delete(queue);
    if (notice.heldUntil) {
      this.arm(
        Math.max(
          notice.heldUntil.getTime() - this.dbClock.ms,
          this.clock.now() + HELD_RETRY_MIN_MS,
        ),
      );
    }
  }

  /** Workers returned credits: claim for groups not known to be empty. */
  creditsAvailable(): void {
    this.kick();
  }

  /**
   * A task will be due at `dueAtMs` (database clock). Arms the timer if that is sooner than
   * what it is armed for.
   */
  dueSoon(dueAtMs: number): void {
    const local = dueAtMs - this.dbClock.ms;
    if (local <= this.clock.now()) return this.wake();
    this.arm(local);
  }

  /** Arms the due timer for `localMs` (our wall clock) if that is sooner than it is armed for. */
  private arm(localMs: number): void {
    if (this.stopRequested || localMs >= this.dueAt) return;
    this.dueTimer?.clear();
    this.dueAt = localMs;
    this.dueTimer = this.after(
      // A later task re-arms when this fires: the timer wakes, finds nothing, looks again.
      Math.min(MAX_TIMER_MS, Math.max(0, localMs - this.clock.now())),
      () => {
        this.dueAt = Infinity;
        this.wake();
        this.refresh();
      },
    );
  }

  /** Asks for the next due time (and the limited queues) in the background. */
  private refresh(): void {
    const query = this.refreshNextDue();
    this.refreshes.add(query);
    void query.finally(() => this.refreshes.delete(query));
  }

  private async refreshNextDue(): Promise<void> {
    if (this.stopRequested) return;
    try {
      const limited = await this.store.limitedQueues(this.db);
      // A queue that just got a limit is skipped by the unlimited claim: claim it the other way.
      if ([...limited].some((q) => !this.limited.has(q))) this.wakeSeq++;
      this.limited = limited;
      const before = this.clock.now();
      const { next, dbNow } = await this.store.nextDueAt(this.db);
      const after = this.clock.now();
      this.dbClock.add(before, after, dbNow.getTime());
      if (next) this.arm(next.getTime() - this.dbClock.ms);
    } catch (err) {
      this.options.logger.warn({ err: describeError(err) }, 'next-due query failed');
    }
  }

  private kick(): void {
    if (this.stopRequested) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.idle = this.loop();
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        const more = await this.round();
        if (more) this.again = true;
      } while (this.again && !this.stopRequested);
    } catch (err) {
      this.options.logger.warn(
        { err: describeError(err) },
        'dispatch failed; retrying on the next poll',
      );
    } finally {
      this.running = false;
    }
  }

  /** One pass over every group with free slots. Returns true if a group may have more. */
  private async round(): Promise<boolean> {
    const seq = this.wakeSeq;
    let more = false;
    for (const group of this.groups()) {
      if (this.emptyAt.get(group.key) === seq) continue;
      const queues = rotate(group.queues, this.queueRotation++);
      let exhausted = true;
      for (const queue of queues) {
        const slots = slotsOf(group.members);
        if (slots.length === 0) {
          exhausted = false;
          break;
        }
        const claimed = await this.store.claimDue(this.db, {
          queue,
          handlers: group.handlers,
          labels: group.labels,
          slots,
          leaseMs: this.options.leaseMs,
          limited: this.serialised(queue),
          onNotice: (n) => this.noticed(queue, n),
        });
        await this.deliver(claimed);
        if (claimed.length === slots.length) exhausted = false;
      }
      if (exhausted) this.emptyAt.set(group.key, seq);
      else if (slotsOf(group.members).length > 0) more = true;
    }
    return more;
  }

  private async deliver(claimed: ClaimedTask[]): Promise<void> {
    if (claimed.length === 0) return;
    const perSession = new Map<WorkerSession, ClaimedTask[]>();
    const unsent: ClaimedTask[] = [];
    for (const t of claimed) {
      const session = this.registry.get(t.workerId);
      if (!session || session.draining) {
        unsent.push(t);
        continue;
      }
      this.registry.assign(session, t.id, t.attempt);
      let list = perSession.get(session);
      if (!list) perSession.set(session, (list = []));
      list.push(t);
    }
    for (const [session, tasks] of perSession) {
      session.send({
        assigned: packAssignments(
          tasks.map((t) => ({
            taskId: t.id,
            attempt: t.attempt,
            command: t.command,
            payloadJson: t.payloadJson ?? '',
            queue: t.queue,
            timeoutMs: t.timeoutMs ?? 0,
            maxAttempts: t.maxAttempts,
            scheduledAtMs: BigInt(t.scheduledAtMs),
            traceParent: this.traceDispatch(t, session.info.id),
            inputsJson: t.inputsJson ?? '',
          })),
        ),
      });
    }
    this.options.onDispatched?.(claimed);
    if (unsent.length > 0) {
      // The worker left or began draining while the claim ran: give the tasks back now
      // rather than leave them to lease expiry.
      this.options.logger.info(
        { tasks: unsent.length },
        'worker left during claim; releasing its tasks',
      );
      await this.store.releaseClaims(this.db, unsent);
      this.wakeSeq++;
      this.again = true;
    }
  }

  /** Records the dispatch of a traced task; returns the traceparent its worker runs under. */
  private traceDispatch(t: ClaimedTask, workerId: string): string {
    if (!t.traceContext) return '';
    const span = startSpan(`taskq.dispatch ${t.command.split(' ', 1)[0] ?? ''}`, t.traceContext, {
      'taskq.component': 'coordinator',
      'taskq.task_id': t.id,
      'taskq.attempt': t.attempt,
      'taskq.queue': t.queue,
      'taskq.worker_id': workerId,
    });
    const parent = traceparentOf(span) ?? t.traceContext;
    span.end();
    return parent;
  }

  /** Resolves once the dispatch round in progress (if any) has delivered what it claimed. */
  settled(): Promise<void> {
    return this.idle;
  }

  private groups(): Group[] {
    const groups = new Map<string, Group>();
    const silentSince = this.clock.now() - this.options.silentAfterMs;
    for (const s of this.registry.all()) {
      if (s.draining || s.credits <= 0 || s.lastSeenAt < silentSince) continue;
      const queues = [...s.info.queues].sort();
      const handlers = s.info.acceptsAnyCommand ? null : [...s.info.handlers].sort();
      // Workers with other labels claim apart: a task that requires a label goes only to a
      // worker that has it.
      const labels = Object.fromEntries(
        Object.entries(s.info.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
      const key = `${queues.join(',')}|${handlers ? handlers.join(',') : '*'}|${JSON.stringify(labels)}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { key, queues, handlers, labels, members: [] }));
      g.members.push(s);
    }
    return [...groups.values()];
  }
}

/**
 * One worker id per free slot, interleaved (A, B, A, B, A) so that a short claim still
 * spreads its tasks over the workers.
 */
export function slotsOf(members: Array<{ credits: number; info: { id: string } }>): string[] {
  const slots: string[] = [];
  const left = members.map((m) => Math.max(0, m.credits));
  for (let round = 0, added = true; added; round++) {
    added = false;
    members.forEach((m, i) => {
      if ((left[i] ?? 0) > round) {
        slots.push(m.info.id);
        added = true;
      }
    });
  }
  return slots;
}

function rotate<T>(items: T[], by: number): T[] {
  if (items.length < 2) return items;
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
