import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { processCpuMs } from './cpu.js';

const OWN_CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/**
 * The built CLI the bench runs, as users do: this checkout's dist/, or another build named
 * by TASKQ_BENCH_CLI (e.g. a clean build of a given commit, to compare two versions).
 */
export const CLI = process.env.TASKQ_BENCH_CLI ?? OWN_CLI;

/** One parsed JSON log line. */
export type LogLine = Record<string, unknown> & { msg?: string };

const live = new Set<BenchProcess>();

/** An answer from a peer host process (bench/systems/peer-host/main.ts) to one request. */
interface IpcAnswer {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

/**
 * A child process: a `taskq` service, whose JSON log is parsed so the bench can wait for the
 * line that carries its ports, or a peer host, which also answers requests over IPC. The
 * last lines of output are kept for error messages.
 */
export class BenchProcess {
  private readonly tail: string[] = [];
  private readonly lines: LogLine[] = [];
  private waiters: Array<{ msg: string; resolve: (l: LogLine) => void }> = [];
  private exitInfo: string | null = null;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private helloValue: Promise<Record<string, unknown>> | undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.tail.push(line);
        if (this.tail.length > 40) this.tail.shift();
        if (!line.startsWith('{')) continue;
        try {
          const parsed = JSON.parse(line) as LogLine;
          if (this.lines.length < 1000) this.lines.push(parsed);
          this.waiters = this.waiters.filter((w) => {
            if (parsed.msg !== w.msg) return true;
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
    this.exited = once(child, 'exit').then(([code, signal]) => {
      this.exitInfo = `code ${String(code)}, signal ${String(signal)}`;
      live.delete(this);
      for (const w of this.pending.values()) {
        w.reject(new Error(`${this.name} exited (${this.exitInfo}). Output:\n${this.output()}`));
      }
      this.pending.clear();
    });
    if (child.channel) {
      this.helloValue = new Promise((resolve, reject) => {
        child.on('message', (raw: unknown) => {
          const msg = raw as Partial<IpcAnswer> & { hello?: Record<string, unknown> };
          if (msg.hello) {
            resolve(msg.hello);
            return;
          }
          const waiter = msg.id === undefined ? undefined : this.pending.get(msg.id);
          if (!waiter || msg.id === undefined) return;
          this.pending.delete(msg.id);
          if (msg.ok) waiter.resolve(msg.value);
          else waiter.reject(new Error(`${this.name}: ${msg.error ?? 'failed'}`));
        });
        void this.exited.then(() =>
          reject(new Error(`${this.name} exited before it was ready. Output:\n${this.output()}`)),
        );
      });
      // Callers that await hello() still see a failure; nobody else should.
      this.helloValue.catch(() => undefined);
    }
  }

  /** The last lines the process wrote, for error messages. */
  output(): string {
    return this.tail.join('\n');
  }

  /**
   * For a process started with an IPC channel: resolves with the first message it sends,
   * `{ hello: {...} }`, which says that it is ready and what it runs.
   * @throws Error when the process exits first, or has no IPC channel.
   */
  hello(): Promise<Record<string, unknown>> {
    if (!this.helloValue) return Promise.reject(new Error(`${this.name} has no IPC channel`));
    return this.helloValue;
  }

  /**
   * Sends `{ id, op, ...args }` over the IPC channel and resolves with the answer's value.
   * @throws Error with the process's own message when it answers with a failure, or when it
   * exits before answering.
   */
  request<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (!this.running) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: (v) => resolve(v as T), reject });
      // The request's own id and op win over any argument of the same name.
      this.child.send?.({ ...args, id, op });
    });
  }

  /** The operating system's process id. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** True until the process exits. */
  get running(): boolean {
    return this.exitInfo === null;
  }

  /**
   * Resolves with the first log line whose msg is `msg`.
   * @throws Error when the process exits first or `timeoutMs` passes.
   */
  waitForMsg(msg: string, timeoutMs = 30_000): Promise<LogLine> {
    const seen = this.lines.find((l) => l.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string): void =>
        reject(new Error(`${this.name}: ${why} before "${msg}". Output:\n${this.tail.join('\n')}`));
      const timer = setTimeout(() => fail(`no log line within ${timeoutMs} ms`), timeoutMs);
      void this.exited.then(() => {
        clearTimeout(timer);
        fail(`exited (${this.exitInfo ?? '?'})`);
      });
      this.waiters.push({
        msg,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  /** Resident set size in bytes (Linux /proc), or null where it cannot be read. */
  rssBytes(): number | null {
    if (!this.running) return null;
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  }

  /** CPU time (user + system) used so far, in ms, or null once exited or without /proc. */
  cpuMs(): number | null {
    return this.running ? processCpuMs(this.pid) : null;
  }

  /** SIGTERM (a graceful drain), then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL at once; for emergency cleanup. */
  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

/**
 * Starts `node [nodeArgs] dist/cli/main.js <args>` with JSON logs at level `warn`, plus
 * whatever `env` adds. Extra node flags (e.g. `--cpu-prof`) come from `nodeArgs`, or from
 * the BENCH_NODE_ARGS environment variable (space-separated) when none are given.
 */
export function startTaskq(
  name: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
): BenchProcess {
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], {
    env: { ...process.env, TASKQ_LOG_FORMAT: 'json', TASKQ_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = new BenchProcess(name, child);
  live.add(p);
  return p;
}

/**
 * Starts a peer host (bench/systems/peer-host/main.ts) with `node`, through tsx, with an IPC
 * channel for requests; `config` reaches it as BENCH_PEER_CONFIG. Wait for
 * {@link BenchProcess.hello} before sending requests.
 */
export function startPeerHost(name: string, node: string, config: unknown): BenchProcess {
  const child = spawn(node, ['--import', TSX, PEER_HOST], {
    env: { ...process.env, BENCH_PEER_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const p = new BenchProcess(name, child);
  live.add(p);
  return p;
}

const PEER_HOST = fileURLToPath(new URL('../systems/peer-host/main.ts', import.meta.url));
/** tsx's loader, as a file URL, so that any node binary can run the host's TypeScript. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/**
 * CPU time (ms) used so far by all of `processes` together, or null when one of them cannot
 * be read (it exited, or there is no /proc).
 */
export function totalCpuMs(processes: ReadonlyArray<BenchProcess | undefined>): number | null {
  let total = 0;
  for (const p of processes) {
    if (!p) continue;
    const ms = p.cpuMs();
    if (ms === null) return null;
    total += ms;
  }
  return total;
}

/** Kills every child still running (on an error or Ctrl-C). */
export function killAll(): void {
  for (const p of live) p.kill();
}

/**
 * Checks that the CLI is built, and says when the build looks older than the sources.
 * @returns a warning to print, or null.
 * @throws Error when dist/ is missing.
 */
export function checkBuild(): string | null {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  if (CLI !== OWN_CLI) return null;
  const root = fileURLToPath(new URL('../../', import.meta.url));
  if (newest(join(root, 'src'), '.ts') > newest(join(root, 'dist'), '.js')) {
    return 'dist/ looks older than src/; run `npm run build` to measure the current code';
  }
  return null;
}

function newest(dir: string, ext: string): number {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(ext)) continue;
    max = Math.max(max, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return max;
}
