import type pg from 'pg';
import type { SystemName } from '../lib/options.js';

/**
 * Which handlers a session's workers run: `noop` does nothing, `stamp` records when it
 * started; `fanout` is a parent that spawns no-op children and waits for them, and `dag` the
 * no-op root and nodes of a 1 → N → 1 graph with its join (workers of these two also run
 * `noop`).
 */
export type HandlerKind = 'noop' | 'stamp' | 'fanout' | 'dag';

/**
 * What the tasks of a drain carry besides being no-ops, for the scenarios that price a
 * feature against the plain drain (bench/systems/features.ts has each one's settings):
 * `routed` tasks require a worker label, a `ratelimited` queue has a rate limit far above the
 * drain's rate, and `grouped` tasks are spread over groups claimed in fair share.
 */
export type DrainVariant = 'plain' | 'routed' | 'ratelimited' | 'grouped';

/**
 * One fan-out (a parent and its children) or one DAG (a root, its nodes and their join),
 * as the system recorded it: ms since the epoch, on this machine's clock.
 */
export interface JoinTimeline {
  /**
   * When the children or nodes could first run: the fan-out parent's first run ended with its
   * children stored (or, where children appear as they are added, once they all were); the
   * DAG's root completed.
   */
  releasedAt: number;
  /** The first child or node to start; null where the system does not record starts. */
  firstStart: number | null;
  /** The last child or node to complete. */
  lastDone: number;
  /** The join (the resumed parent, the DAG's join) claimed; null where not recorded. */
  joinClaimedAt: number | null;
  /** The join's handler running with the results it is given (see {@link resultsSeen}). */
  joinStartedAt: number;
  /** The join's success, as stored. */
  doneAt: number;
  /** Children or nodes that succeeded. */
  done: number;
  /** Results the join's handler was handed; null where the system hands it none. */
  resultsSeen: number | null;
}

/**
 * What a query of a fan-out's or a DAG's stored times returns, in ms since the epoch (the
 * columns of a {@link JoinTimeline}); null where the system has not stored one yet.
 */
export interface TimelineColumns {
  done_at: number | null;
  claimed_at: number | null;
  released_at: number | null;
  first_start: number | null;
  last_done: number | null;
  done: number;
}

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
  /** The drain's variant: its backlog, workers and queue settings. @default 'plain' */
  variant?: DrainVariant;
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
  /**
   * ANALYZEs the tables the system keeps its tasks in (none for Redis), as autovacuum soon
   * would: for tasks added through the API, which loadBacklog does not cover.
   */
  analyze(): Promise<void>;
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
  /**
   * Submits one parent task that spawns `children` no-op children and waits for them (ours:
   * ctx.spawn and ctx.waitFor). Resolves once the submit is acknowledged, with the parent's id.
   * @throws Error where the system does not offer it (bench/systems/features.ts).
   */
  submitFanout(children: number): Promise<string>;
  /** A fan-out's timeline once its parent has succeeded; null before. */
  fanoutTimeline(id: string): Promise<JoinTimeline | null>;
  /**
   * Submits one graph in one call: a no-op root, `nodes` no-op nodes that depend on it, and a
   * join that depends on every node. Resolves with the graph's id.
   * @throws Error where the system does not offer it.
   */
  submitDag(nodes: number): Promise<string>;
  /** A DAG's timeline once its join has succeeded; null before. */
  dagTimeline(id: string): Promise<JoinTimeline | null>;
  /** Stops everything the session started and drops its schema. */
  close(): Promise<void>;
}

/** Opens a session of one system. */
export type SessionFactory = (ctx: SessionContext, roles: SessionRoles) => Promise<QueueSession>;
