import { spawn } from 'node:child_process';
import { ValidationError } from '../../lib/errors.js';
import { TaskError, NonRetryableError, type Handler, type TaskContext } from '../types.js';
import { commandLineToArgv } from './argv.js';

/** Options for the shell executor, which is off unless the worker enables it. */
export interface ShellOptions {
  /** Longest a command may run, whatever the task's own timeout. @default 600000 */
  timeoutMs?: number;
  /** Bytes kept of stdout and of stderr each; the rest is dropped and flagged. @default 65536 */
  outputLimitBytes?: number;
  /**
   * When set, commands run without a shell: the line is split into words (quotes work), any
   * shell syntax (operators, redirections, substitutions, globs, comments) fails the task,
   * and the first word must be one of these names exactly. `/bin/ls` is not `ls`: list the
   * path too to allow it. A listed program runs with any arguments, so do not list one that
   * runs others (`env`, `xargs`, `find`, `sh`, `nice`, `timeout`…).
   * @default undefined: any command line, run by {@link ShellOptions.shell}
   */
  allow?: string[];
  /**
   * Names of the worker's environment variables that commands also get, when the worker has
   * them. Without them a command sees only PATH, HOME, LANG and TZ and the task's
   * TASKQ_TASK_ID, TASKQ_ATTEMPT and TASKQ_PAYLOAD: never DATABASE_URL unless listed here, and
   * never TASKQ_TOKEN, which {@link shellHandler} refuses to list.
   * @default []
   */
  env?: string[];
  /** Runs the command line when there is no allow list. @default '/bin/sh' */
  shell?: string;
}

/** What a shell execution stores as the task's result. */
export interface ShellResult {
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

const PAYLOAD_ENV_LIMIT = 32 * 1024;

/** What every command gets from the worker's environment, when the worker has it. */
const BASE_ENV = ['PATH', 'HOME', 'LANG', 'TZ'];

/** The worker's credential: a command that has it can take and complete tasks as this worker. */
const NEVER_PASSED = new Set(['TASKQ_TOKEN']);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Runs the task's command as the worker's own user: with an allow list, the listed program
 * itself, without a shell (see {@link commandLineToArgv}); without one, the whole line through
 * `/bin/sh -c`. Its stdout, stderr and exit code become the result; a non-zero exit fails the
 * attempt (with the result kept). The command runs in its own process group, so a timeout or
 * cancel stops everything it started, and with a short environment of its own (see
 * {@link ShellOptions.env}).
 * @throws ValidationError when `options.env` names TASKQ_TOKEN or is not a variable name.
 */
export function shellHandler(options: ShellOptions = {}): Handler<unknown, ShellResult> {
  const allow = options.allow ? new Set(options.allow) : undefined;
  const passed = [...BASE_ENV, ...checkEnvNames(options.env ?? [])];
  const limits = {
    timeoutMs: options.timeoutMs ?? 600_000,
    outputLimitBytes: options.outputLimitBytes ?? 65_536,
  };
  const shell = options.shell ?? '/bin/sh';
  return (payload, ctx) => {
    const [file, ...args] = allow
      ? allowedArgv(ctx.command, allow)
      : ([shell, '-c', ctx.command] as const);
    return run(file, args, childEnv(passed, payload, ctx), limits, ctx);
  };
}

/**
 * The argv of a command line that may run without a shell on this worker.
 * @throws NonRetryableError for shell syntax, or a program that is not listed.
 */
function allowedArgv(command: string, allow: ReadonlySet<string>): [string, ...string[]] {
  const argv = commandLineToArgv(command);
  if (!allow.has(argv[0])) {
    throw new NonRetryableError(`shell command '${argv[0]}' is not in this worker's allow list`);
  }
  return argv;
}

/**
 * The child's whole environment: the listed names the worker has, then the task's own
 * variables (which win over a listed name of the same spelling).
 */
function childEnv(names: readonly string[], payload: unknown, ctx: TaskContext): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of names) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  env.TASKQ_TASK_ID = ctx.taskId;
  env.TASKQ_ATTEMPT = String(ctx.attempt);
  const payloadJson = JSON.stringify(payload ?? null);
  if (payloadJson.length <= PAYLOAD_ENV_LIMIT) env.TASKQ_PAYLOAD = payloadJson;
  return env;
}

/** @throws ValidationError for TASKQ_TOKEN or a name that is not a variable name. */
function checkEnvNames(names: readonly string[]): readonly string[] {
  for (const name of names) {
    if (NEVER_PASSED.has(name)) {
      throw new ValidationError(
        `shell.env (--shell-env) lists ${name}, which is never passed to shell commands: with it, a command could take and complete tasks as this worker`,
        'shell.env',
      );
    }
    if (!ENV_NAME.test(name)) {
      throw new ValidationError(
        `shell.env (--shell-env) lists "${name}", which is not an environment variable name (letters, digits and _, not starting with a digit)`,
        'shell.env',
      );
    }
  }
  return names;
}

/**
 * Runs `file` with `args`, never through a shell of its own (`file` may be one), in a new
 * process group, and collects its output up to the limit.
 */
function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  limits: { timeoutMs: number; outputLimitBytes: number },
  ctx: TaskContext,
): Promise<ShellResult> {
  const { timeoutMs, outputLimitBytes: limit } = limits;
  return new Promise<ShellResult>((resolve, reject) => {
    const child = spawn(file, args, {
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    const out = {
      stdout: [] as Buffer[],
      stderr: [] as Buffer[],
      size: { stdout: 0, stderr: 0 },
      truncated: false,
    };
    const collect = (name: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const room = limit - out.size[name];
      if (room <= 0) {
        out.truncated = true;
        return;
      }
      if (chunk.length > room) out.truncated = true;
      const part = chunk.subarray(0, room);
      out[name].push(part);
      out.size[name] += part.length;
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));

    let killedFor: string | undefined;
    const kill = (why: string): void => {
      if (killedFor || child.exitCode !== null) return;
      killedFor = why;
      try {
        process.kill(-(child.pid as number), 'SIGTERM');
      } catch {
        // already gone
      }
      setTimeout(() => {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          // already gone
        }
      }, 2000).unref();
    };
    const timer = setTimeout(() => kill(`shell timeout after ${timeoutMs} ms`), timeoutMs);
    const onAbort = (): void => kill(String(ctx.signal.reason ?? 'aborted'));
    ctx.signal.addEventListener('abort', onAbort, { once: true });

    child.once('error', (err) => {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      reject(new TaskError(`could not start '${file}': ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      const result: ShellResult = {
        exit_code: code,
        signal,
        stdout: text(out.stdout),
        stderr: text(out.stderr),
        truncated: out.truncated,
      };
      if (code === 0 && !killedFor) return resolve(result);
      const lastLine = result.stderr.trim().split('\n').at(-1)?.slice(0, 500) ?? '';
      const why = killedFor ?? (code === null ? `killed by ${signal}` : `exit code ${code}`);
      reject(new TaskError(lastLine ? `${why}: ${lastLine}` : why, { result }));
    });
  });
}

/** Output as text. NUL bytes cannot be stored in PostgreSQL text or jsonb, so they become U+FFFD. */
function text(chunks: Buffer[]): string {
  return Buffer.concat(chunks).toString('utf8').replaceAll('\u0000', '\ufffd');
}
