import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiError, ConnectionError, TaskQueueClient, type TaskStatus } from '../client/index.js';
import { parseDuration, parseTimestamp } from '../lib/time.js';

/** Where the client commands go when neither --url nor TASKQ_URL says: the scheduler. */
export const DEFAULT_URL = 'http://127.0.0.1:8081';

/** Flags every client command takes. */
export interface ClientFlags {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Bad usage: a flag value or argument the command cannot use. Exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Adds --url, --token and --json to a client command. */
export function clientOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', `API address (default: TASKQ_URL, else ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (default: TASKQ_TOKEN)')
    .option('--json', 'print the API JSON instead of text');
}

/**
 * The command's flags, merged with those its parent took: commander lets a parent (`queues`)
 * consume a shared flag that follows a subcommand (`queues pause x --json`).
 */
export function flagsOf<T extends ClientFlags>(cmd: Command): T {
  return cmd.optsWithGlobals<T>();
}

/** A client for the address and token the flags and environment give. */
export function clientFor(flags: ClientFlags): TaskQueueClient {
  const url = flags.url ?? (process.env.TASKQ_URL || DEFAULT_URL);
  try {
    return new TaskQueueClient({
      baseUrl: url,
      ...((flags.token ?? process.env.TASKQ_TOKEN)
        ? { token: flags.token ?? process.env.TASKQ_TOKEN }
        : {}),
    });
  } catch {
    throw new UsageError(
      `${flags.url !== undefined ? '--url' : 'TASKQ_URL'} must be an http:// or https:// address such as ${DEFAULT_URL} (got "${url}")`,
    );
  }
}

/** An integer flag within bounds, or a UsageError naming it. */
export function intFlag(
  value: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n))
    throw new UsageError(`${flag} must be a whole number (got "${value}")`);
  if (n < min || n > max) throw new UsageError(`${flag} must be from ${min} to ${max} (got ${n})`);
  return n;
}

/** A duration flag (`500ms`, `30s`, `5m`, or plain ms) in ms. */
export function durationFlag(value: string | undefined, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(value, flag);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (ms < min) throw new UsageError(`${flag} must be at least ${min}ms (got "${value}")`);
  return ms;
}

/** A queue setting: a duration, or `default` to clear it. */
export function settingFlag(value: string | undefined, flag: string): number | null | undefined {
  if (value === 'default') return null;
  return durationFlag(value, flag);
}

/** An RFC 3339 time flag, checked here so a typo never reaches the server. */
export function timeFlag(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  try {
    parseTimestamp(value, flag);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return value;
}

/** A JSON flag; `@file` reads the JSON from a file. */
export function jsonFlag(value: string | undefined, flag: string): unknown {
  if (value === undefined) return undefined;
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (err) {
      throw new UsageError(`${flag}: cannot read ${value.slice(1)}: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${flag} must be JSON, e.g. '{"width": 800}' (${(err as Error).message})`);
  }
}

/** The statuses `--status` takes: a plain task's, then the two workflow states. */
const STATUSES: TaskStatus[] = [
  'pending',
  'running',
  'succeeded',
  'dead',
  'cancelled',
  'blocked',
  'waiting',
];

/** A --status flag. */
export function statusFlag(value: string | undefined): TaskStatus | undefined {
  if (value === undefined) return undefined;
  if (!(STATUSES as string[]).includes(value))
    throw new UsageError(`--status must be one of ${STATUSES.join(', ')} (got "${value}")`);
  return value as TaskStatus;
}

/** Which flag or argument of the command an API field came from, to name it in errors. */
export type FieldFlags = Record<string, string>;

/**
 * Prints an error as one line on stderr, `taskq: <message>`, and exits: 2 for bad usage and
 * 4xx answers (the request will not work as it is), 1 for everything else (server errors,
 * rate limits that outlasted the retries, an unreachable server), 130 for Ctrl-C.
 */
export function exitWithError(err: unknown, flags: ClientFlags, fields: FieldFlags = {}): never {
  const { message, code } = describe(err, flags, fields);
  process.stderr.write(`taskq: ${message}\n`);
  process.exit(code);
}

function describe(
  err: unknown,
  flags: ClientFlags,
  fields: FieldFlags,
): { message: string; code: number } {
  if (err instanceof UsageError) return { message: err.message, code: 2 };
  if (err instanceof ApiError) {
    // A field inside a document the user gave (workflow.tasks.3.command) names its flag too.
    const flag = err.field
      ? (fields[err.field] ?? fields[err.field.split('.')[0] ?? ''])
      : undefined;
    const named = flag && !err.message.includes(flag) ? ` (${flag})` : '';
    if (err.status === 401)
      return {
        message: `${err.message}; pass an API token with --token or TASKQ_TOKEN`,
        code: 2,
      };
    if (err.status === 429)
      return { message: `${err.message} (the server is busy; try again later)`, code: 1 };
    if (err.status === 503)
      return { message: `the server is unavailable: ${err.message}; try again shortly`, code: 1 };
    if (err.status >= 400 && err.status < 500) return { message: err.message + named, code: 2 };
    return { message: `the server failed: ${err.message} (HTTP ${err.status})`, code: 1 };
  }
  if (err instanceof ConnectionError) {
    const source =
      flags.url !== undefined ? '--url' : process.env.TASKQ_URL ? 'TASKQ_URL' : '--url';
    return {
      message: `cannot reach the Task Queue API at ${err.url} (${err.reason}). Is it running? Start one with \`npm start\` (taskq dev), or check ${source}.`,
      code: 1,
    };
  }
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'Interrupted'))
    return { message: 'interrupted', code: 130 };
  return { message: err instanceof Error ? err.message : String(err), code: 1 };
}

/**
 * Makes commander's own usage errors (unknown option, missing argument) read like ours, one
 * line `taskq: …` pointing at --help, and exit 2.
 */
export function usageErrors(cmd: Command): Command {
  return cmd
    .showHelpAfterError(false)
    .configureOutput({
      outputError: (text, write) =>
        write(
          `taskq: ${text.trim().replace(/^error: /, '')} (see taskq ${commandPath(cmd)} --help)\n`,
        ),
    })
    .exitOverride((e) => {
      process.exit(e.exitCode === 0 ? 0 : 2);
    });
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}
