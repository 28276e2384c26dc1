import { execFile, execFileSync } from 'node:child_process';
import { CLI } from './processes.js';

/** How a `taskq` run ended: its exit code and what it printed. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `taskq <args>` against the API at `url` (TASKQ_URL), without colour, with `stdin` if
 * given, and waits for it to exit.
 */
export function runCli(
  url: string,
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, TASKQ_URL: url, NO_COLOR: '1', ...opts.env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
  });
}

/** Whether `script` (util-linux) is here to give the CLI a pseudo-terminal. */
export const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Runs `taskq <args>` on a pseudo-terminal `columns` wide, as a user's shell would. */
export function runOnTerminal(args: string[], columns: number): Promise<CliRun> {
  const cmd = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
  return new Promise((resolve) =>
    execFile(
      'script',
      ['-qec', cmd, '/dev/null'],
      { env: { ...process.env, COLUMNS: String(columns) }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    ),
  );
}
