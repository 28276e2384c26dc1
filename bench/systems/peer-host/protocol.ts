import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DrainVariant, HandlerKind, TaskSpec } from '../types.js';

/** The adapters a peer host can run, one module each in this folder. */
export type PeerAdapterName = 'graphile' | 'pgboss' | 'bullmq';

/** What a peer host process is told at start (as JSON in BENCH_PEER_CONFIG). */
export interface HostConfig {
  adapter: PeerAdapterName;
  /**
   * `main` sets the schema or queues up and serves adds and counts; `worker` runs
   * consumers only, once the main process is ready.
   */
  role: 'main' | 'worker';
  /** The library: a package name (the project's node_modules) or its entry file in bench/peers. */
  library: string;
  /** PostgreSQL connection string. */
  url: string;
  /** The session's own schema (BullMQ on Redis: its key prefix). */
  schema: string;
  /** BullMQ's datastore. */
  backend?: 'redis' | 'postgres';
  /** For BullMQ on Redis: the server, and the entry file of ioredis in bench/peers. */
  redisUrl?: string;
  ioredis?: string;
  /** The peer's own settings (bench/systems/peers.ts). */
  settings: Record<string, unknown>;
  /** The session's workers (a DAG session needs pg-boss's flow resolver, for one). */
  kind: HandlerKind | null;
  /** The drain's variant (e.g. a rate-limited queue). */
  variant: DrainVariant;
}

/** A request from the bench to a peer host; the answer carries the same id. */
export type HostRequest = { id: number } & (
  | { op: 'addBulk'; tasks: TaskSpec[] }
  | { op: 'addOne'; task: TaskSpec }
  | { op: 'loadBacklog'; n: number }
  | { op: 'startWorkers'; kind: HandlerKind }
  | { op: 'doneCount' }
  | { op: 'unfinishedCount' }
  | { op: 'completionTimes' }
  | { op: 'workerStats' }
  | { op: 'submitFanout'; children: number }
  | { op: 'fanoutTimeline'; ref: string }
  | { op: 'submitDag'; nodes: number }
  | { op: 'dagTimeline'; ref: string }
  | { op: 'close' }
);

/** What a worker process saw: handler calls, `stamp` start times, completion times. */
export interface WorkerStats {
  handled: number;
  /** [task index, ms since the epoch] for `stamp` tasks. */
  starts: Array<[number, number]>;
  /** When each completion was acknowledged to the worker, ms since the epoch. */
  completed: number[];
  /** Named moments a handler recorded (e.g. `join:<id>`), ms since the epoch. */
  marks: Record<string, number>;
}

/** What a worker's handlers and completion events report to the host. */
export interface WorkerHooks {
  /** A handler ran for `n` tasks (a batch handler for many). */
  handled(n: number): void;
  /** A `stamp` task's handler started. */
  started(i: number, at: number): void;
  /** The library says a task's completion is stored (at `at`, when it says when). */
  completed(at?: number): void;
  /** A handler records a named moment (the bench reads it back by name). */
  mark(name: string, at: number): void;
}

/**
 * What the main process finds stored of a fan-out or a DAG once its join has succeeded;
 * null times are the workers' to tell (their marks and completion events).
 */
export interface StoredJoin {
  doneAt: number;
  claimedAt: number | null;
  releasedAt: number | null;
  firstStart: number | null;
  lastDone: number | null;
  done: number | null;
  /** What the join's handler returned, where the peer stores it. */
  result: { startedAt?: number; seen?: number } | null;
}

/**
 * One peer library behind the bench's operations. Counts and times come from the peer's own
 * storage where it keeps finished tasks; null means the workers' completion events are the
 * record (graphile-worker deletes finished jobs).
 */
export interface PeerAdapter {
  addBulk(tasks: TaskSpec[]): Promise<void>;
  addOne(task: TaskSpec): Promise<void>;
  /** `n` due no-op tasks that appear at once (one transaction, or a paused queue resumed). */
  loadBacklog(n: number): Promise<void>;
  startWorkers(kind: HandlerKind, hooks: WorkerHooks): Promise<void>;
  doneCount(): Promise<number | null>;
  unfinishedCount(): Promise<number>;
  completionTimes(): Promise<number[] | null>;
  /** Where the peer offers it (bench/systems/features.ts): a parent that waits for children. */
  submitFanout?(children: number): Promise<string>;
  fanoutTimeline?(id: string): Promise<StoredJoin | null>;
  /** Where the peer offers it: a 1 → N → 1 graph in one call. */
  submitDag?(nodes: number): Promise<string>;
  dagTimeline?(id: string): Promise<StoredJoin | null>;
  close(): Promise<void>;
}

/** Each adapter module's export. */
export type OpenAdapter = (config: HostConfig) => Promise<PeerAdapter>;

/**
 * Imports a peer library by package name or entry file. A CommonJS library's exports arrive
 * on `default`; an ES module's on the namespace itself: `probe` names an export to tell.
 */
export async function importLibrary<T>(library: string, probe: string): Promise<T> {
  const mod = (await import(isAbsolute(library) ? pathToFileURL(library).href : library)) as Record<
    string,
    unknown
  >;
  return (probe in mod ? mod : mod.default) as T;
}
