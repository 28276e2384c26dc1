import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { track } from './resources.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** One JSON log line of a child process. */
export type LogLine = Record<string, unknown> & { msg?: string };

/**
 * A `taskq` child process started from the built CLI, with its JSON log parsed so tests
 * can wait for what it says (ports, connections, rejections).
 */
export class TaskqProcess {
  readonly lines: LogLine[] = [];
  readonly output: string[] = [];
  private waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  exitCode: number | null = null;
  /** True once `stop()` was called: the exit that follows was asked for. */
  stopRequested = false;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  /** After exit, once its output has been read to the end. */
  readonly closed: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.output.push(line);
        if (!line.startsWith('{')) continue;
        try {
          const parsed = JSON.parse(line) as LogLine;
          this.lines.push(parsed);
          this.waiters = this.waiters.filter((w) => {
            if (!w.match(parsed)) return true;
            w.resolve(parsed);
            return false;
          });
        } catch {
          // not JSON
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.closed = once(child, 'close').then(() => undefined);
    this.exited = once(child, 'exit').then(([code, signal]) => {
      this.exitCode = code as number | null;
      this.exitSignal = signal as NodeJS.Signals | null;
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `${this.name}: no matching log line within ${timeoutMs} ms. Output:\n${this.output.slice(-30).join('\n')}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      // A process that exits never prints it: say so at once, with its last words. ('close'
      // comes after the last output is read, unlike 'exit'.)
      void this.closed.then(() => {
        clearTimeout(timer);
        reject(
          new Error(
            `${this.name} exited (${this.exitCode ?? this.exitSignal}) while a test waited for its log. Output:\n${this.output.slice(-30).join('\n')}`,
          ),
        );
      });
    });
  }

  /** Resolves with the first output line (past or future) that matches `re`. */
  async waitForOutput(re: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.output) {
        const m = re.exec(line);
        if (m) return m;
      }
      if (!this.running)
        throw new Error(
          `${this.name} exited (${this.exitCode ?? this.exitSignal}) before printing ${re}. Output:\n${this.output.slice(-30).join('\n')}`,
        );
      if (Date.now() > deadline)
        throw new Error(
          `${this.name}: no output matching ${re} within ${timeoutMs} ms. Output:\n${this.output.slice(-30).join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits for a message text. */
  waitForMsg(msg: string, timeoutMs?: number): Promise<LogLine> {
    return this.waitForLog((l) => l.msg === msg, timeoutMs);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopRequested = true;
    if (!this.running) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Starts `taskq <args>` with JSON logs. */
export function startTaskq(
  name: string,
  args: string[],
  env: Record<string, string | undefined>,
  scope: 'test' | 'file' = 'test',
  /** Run under this prefix, e.g. `ip netns exec <ns>` to place it on another (virtual) host. */
  prefix: string[] = [],
): TaskqProcess {
  const [cmd, ...rest] = [...prefix, process.execPath, CLI, ...args] as [string, ...string[]];
  const child = spawn(cmd, rest, {
    env: { ...process.env, TASKQ_LOG_FORMAT: 'json', TASKQ_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = new TaskqProcess(name, child);
  track({ name, isOpen: () => p.running, stop: () => p.stop() }, scope);
  return p;
}
