import type pg from 'pg';
import type { SystemName } from '../lib/options.js';

/** Which handler a task runs: `noop` does nothing, `stamp` records when it started. */
export type HandlerKind = 'noop' | 'stamp';

/** One task to add. */
export interface TaskSpec {
  handler: HandlerKind;
  /** Index within the scenario; carried in the payload as `{ i }`. */
  i: number;
  /** When it is due, in ms since the epoch; absent means now. */
  runAt?: number;
}

/** What a session needs running. */
export interface SessionRoles {
  /** The producer API (ours: a scheduler process serving REST). */
  producer: boolean;
  /** Workers of this handler kind, started by {@link QueueSession.startWorkers}. */
  workers: HandlerKind | null;
}

/** What every system's session gets. */
export interface SessionContext {
  /** PostgreSQL connection string. */
  url: string;
  /** The harness's own pool (loading, counting, dropping). */
  pool: pg.Pool;
  /** A fresh schema for this session only; dropped by close(). */
  schema: string;
}

/**
 * One system under test, on a fresh schema, for one scenario. Scenarios talk only to this
 * interface, so every system is driven the same way.
 */
export interface QueueSession {
  readonly system: SystemName;
  /** Where the system keeps its tasks: its server's CPU is the drain's datastore CPU. */
  readonly datastore: 'postgres' | 'redis';
  /** Adds tasks through the system's bulk path, in one call. */
  addBulk(tasks: TaskSpec[]): Promise<void>;
  /** Adds one task; resolves when the system has acknowledged it. */
  addOne(task: TaskSpec): Promise<void>;
  /**
   * Loads `n` due no-op tasks in one transaction with SQL (generate_series), bypassing the
   * client API, and ANALYZEs the table in the same transaction (as autovacuum soon would),
   * so no system plans its fetch on empty-table statistics. The backlog is set-up, not what
   * is measured. Resolves after the commit.
   */
  loadBacklog(n: number): Promise<void>;
  /** Starts the consumers named in the roles and waits until they are ready for work. */
  startWorkers(): Promise<void>;
  /**
   * A cheap running count of finished tasks, for waiting. It may count handler returns
   * rather than commits (pg-boss completes after its handler, and counting its table with a
   * large backlog would load the server), so always confirm with {@link doneCount}.
   */
  progressCount(): Promise<number>;
  /** Tasks finished successfully, as recorded in the database. */
  doneCount(): Promise<number>;
  /** Completion times (ms since the epoch) of finished tasks, ascending. */
  completionTimes(): Promise<number[]>;
  /** For `stamp` tasks: task index → when its handler started (ms since the epoch). */
  handlerStarts(): Promise<Map<number, number>>;
  /** Tasks not finished yet (pending or running), as recorded in the database. */
  unfinishedCount(): Promise<number>;
  /**
   * CPU time (ms) used so far by the system's own processes: ours, the coordinator, worker
   * and scheduler processes; a peer, this process (its workers run in-process). Null where
   * it cannot be read.
   */
  clientCpuMs(): number | null;
  /**
   * CPU time (ms) used so far by each of the system's own processes, by name (ours:
   * coordinator, scheduler, worker-1…), where a system runs several; absent otherwise.
   */
  clientCpuMsByProcess?(): Record<string, number | null>;
  /** Memory of the process that dispatches work (ours: the coordinator), or null. */
  dispatcherRss(): number | null;
  /** Stops everything the session started and drops its schema. */
  close(): Promise<void>;
}

/** Opens a session of one system. */
export type SessionFactory = (ctx: SessionContext, roles: SessionRoles) => Promise<QueueSession>;
