import { hostname } from 'node:os';
import { ValidationError } from '../lib/errors.js';
import { checkQueueName } from '../lib/queue-name.js';
import type { Logger } from 'pino';
import type { ShellOptions } from './executors/shell.js';
import type { BatchOptions } from './types.js';

/** Options for a {@link Worker}. */
export interface WorkerOptions {
  /** Coordinator addresses, `host:port` or `http://host:port`. Tried in turn. @default ['127.0.0.1:50051'] */
  coordinators?: string[];
  /** Tasks run at once. @default 10 */
  concurrency?: number;
  /** Queues to take tasks from. @default ['default'] */
  queues?: string[];
  /** Shown in the workers list. @default '<hostname>:<pid>' */
  name?: string;
  labels?: Record<string, string>;
  /** Serve the built-in `echo` and `sleep` handlers. @default true */
  builtins?: boolean;
  /**
   * Also run any command no handler claims as a shell command line. Off by default: it
   * runs arbitrary commands as the worker's user. `true` uses the default limits.
   * @default false
   */
  shell?: boolean | ShellOptions;
  logger?: Logger;
  /** API token with the worker (or admin) role, when the coordinators require one. */
  token?: string;
  /** PEM CA certificate(s) to trust for https:// coordinator addresses (self-signed setups). */
  tlsCa?: string;
  /** First reconnect delay; doubles, with jitter, up to reconnectMaxMs. @default 100 */
  reconnectMinMs?: number;
  /** @default 5000 */
  reconnectMaxMs?: number;
}

/** {@link WorkerOptions} with defaults applied. */
export interface ResolvedWorkerOptions {
  coordinators: string[];
  concurrency: number;
  queues: string[];
  name: string;
  labels: Record<string, string>;
  builtins: boolean;
  shell: ShellOptions | false;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  token: string | undefined;
  tlsCa: string | undefined;
}

/**
 * Fills in defaults and checks every field.
 * @throws ValidationError naming the bad option.
 */
export function resolveWorkerOptions(o: WorkerOptions): ResolvedWorkerOptions {
  const coordinators = (o.coordinators ?? ['127.0.0.1:50051']).map((a) => toBaseUrl(a));
  if (coordinators.length === 0)
    throw new ValidationError('coordinators must list at least one address', 'coordinators');
  const concurrency = o.concurrency ?? 10;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 10_000) {
    throw new ValidationError(
      `concurrency must be a whole number from 1 to 10000 (got ${concurrency})`,
      'concurrency',
    );
  }
  const queues = o.queues ?? ['default'];
  for (const q of queues) checkQueueName(q, 'queues');
  return {
    coordinators,
    concurrency,
    queues: queues.length ? queues : ['default'],
    name: o.name ?? `${hostname()}:${process.pid}`,
    labels: o.labels ?? {},
    builtins: o.builtins ?? true,
    shell: o.shell === true ? {} : (o.shell ?? false),
    reconnectMinMs: o.reconnectMinMs ?? 100,
    reconnectMaxMs: o.reconnectMaxMs ?? 5000,
    token: o.token,
    tlsCa: o.tlsCa,
  };
}

/** {@link BatchOptions} with defaults applied. */
export interface ResolvedBatchOptions {
  size: number;
  waitMs: number;
}

/**
 * Fills in a batch handler's defaults and checks them.
 * @throws ValidationError naming the bad option (`size` or `waitMs`).
 */
export function resolveBatchOptions(o: BatchOptions): ResolvedBatchOptions {
  const size = o.size ?? 100;
  if (!Number.isInteger(size) || size < 1 || size > 10_000) {
    throw new ValidationError(`size must be a whole number from 1 to 10000 (got ${size})`, 'size');
  }
  const waitMs = o.waitMs ?? 10;
  if (!Number.isFinite(waitMs) || waitMs < 0 || waitMs > 60_000) {
    throw new ValidationError(`waitMs must be from 0 to 60000 (got ${waitMs})`, 'waitMs');
  }
  return { size, waitMs };
}

/** `host:port` → `http://host:port`; URLs pass through. */
export function toBaseUrl(address: string): string {
  const a = address.trim();
  if (/^https?:\/\//.test(a)) return a.replace(/\/+$/, '');
  if (!/^[^\s/:]+:\d{1,5}$/.test(a) && !/^\[[0-9a-f:]+\]:\d{1,5}$/i.test(a)) {
    throw new ValidationError(
      `coordinator address "${address}" must look like host:port, e.g. 127.0.0.1:50051`,
      'coordinators',
    );
  }
  return `http://${a}`;
}
