import { spawn } from 'node:child_process';
import { TaskError, NonRetryableError, type Handler } from '../types.js';

/** Options for the shell executor, which is off unless the worker enables it. */
export interface ShellOptions {
  /** Longest a command may run, whatever the task's own timeout. @default 600000 */
  timeoutMs?: number;
  /** Bytes kept of stdout and of stderr each; the rest is dropped and flagged. @default 65536 */
  outputLimitBytes?: number;
  /** When set, only commands whose first word is listed may run. */
  allow?: string[];
  /** @default '/bin/sh' */
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

/**
 * Runs the task's command as a shell command line, as the worker's own user. Its stdout,
 * stderr and exit code become the result; a non-zero exit fails the attempt (with the
 * result kept). The command runs in its own process group, so a timeout or cancel stops
 * everything it started.
 */
export function shellHandler(options: ShellOptions = {}): Handler<unknown, ShellResult> {
  const timeoutMs = options.timeoutMs ?? 600_000;
  const limit = options.outputLimitBytes ?? 65_536;
  const allow = options.allow ? new Set(options.allow) : undefined;
  return (payload, ctx) => {
    const first = ctx.command.trim().split(/\s+/)[0] ?? '';
    if (allow && !allow.has(first)) {
      throw new NonRetryableError(`shell command '${first}' is not in this worker's allow list`);
    }
    return new Promise<ShellResult>((resolve, reject) => {
      const payloadJson = JSON.stringify(payload ?? null);
      const child = spawn(options.shell ?? '/bin/sh', ['-c', ctx.command], {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          TASKQ_TASK_ID: ctx.taskId,
          TASKQ_ATTEMPT: String(ctx.attempt),
          ...(payloadJson.length <= PAYLOAD_ENV_LIMIT ? { TASKQ_PAYLOAD: payloadJson } : {}),
        },
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
        reject(new TaskError(`could not start the shell: ${err.message}`));
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
  };
}

/** Output as text. NUL bytes cannot be stored in PostgreSQL text or jsonb, so they become U+FFFD. */
function text(chunks: Buffer[]): string {
  return Buffer.concat(chunks).toString('utf8').replaceAll('\u0000', '\ufffd');
}
