import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** One virtual host: a network namespace with one veth link to the test's bridge. */
export interface Host {
  name: string;
  ns: string;
  ip: string;
  /** The link inside the namespace. */
  dev: string;
}

const run = (cmd: string, args: string[]): string =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * A small network of hosts in network namespaces, joined by a bridge in the root namespace
 * (which also reaches them, so the test itself can talk to every host). Everything it makes
 * carries a random tag and is removed by destroy(), even after a failure.
 *
 * Partitions use a route through a next hop that does not exist: packets are dropped
 * silently, as on a real cut link (a blackhole route would fail sends at once instead).
 */
export class Topology {
  readonly hosts = new Map<string, Host>();
  private readonly tag = randomBytes(2).toString('hex');
  private readonly subnet = `10.${200 + ((randomBytes(1)[0] as number) % 50)}.${randomBytes(1)[0] as number}`;
  private readonly bridge = `tq${this.tag}br`;
  private readonly procs: ChildProcess[] = [];

  /** Why namespaces cannot be made here, or null when they can. */
  static unavailable(): string | null {
    if (process.getuid?.() !== 0) return 'network namespaces need root';
    try {
      run('ip', ['netns', 'list']);
      return null;
    } catch (err) {
      return `ip netns does not work here: ${(err as Error).message.split('\n')[0]}`;
    }
  }

  /** The root namespace's address on the bridge. */
  get gateway(): string {
    return `${this.subnet}.1`;
  }

  create(): void {
    run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${this.gateway}/24`, 'dev', this.bridge]);
    run('ip', ['link', 'set', this.bridge, 'up']);
  }

  /** Adds a host `name` with address .`octet` on the test subnet. */
  addHost(name: string, octet: number): Host {
    const ns = `tq${this.tag}-${name}`;
    const dev = `tq${this.tag}${octet}n`;
    const peer = `tq${this.tag}${octet}b`;
    const ip = `${this.subnet}.${octet}`;
    run('ip', ['netns', 'add', ns]);
    run('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', peer]);
    run('ip', ['link', 'set', dev, 'netns', ns]);
    run('ip', ['link', 'set', peer, 'master', this.bridge]);
    run('ip', ['link', 'set', peer, 'up']);
    this.exec(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', dev]);
    this.exec(ns, ['ip', 'link', 'set', dev, 'up']);
    this.exec(ns, ['ip', 'link', 'set', 'lo', 'up']);
    const host = { name, ns, ip, dev };
    this.hosts.set(name, host);
    return host;
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** The command prefix that runs something on `host`. */
  on(host: string): string[] {
    return ['ip', 'netns', 'exec', this.host(host).ns];
  }

  private exec(ns: string, cmd: string[]): string {
    return run('ip', ['netns', 'exec', ns, ...cmd]);
  }

  /** Cuts traffic between two hosts, both ways, silently. */
  partition(a: string, b: string): void {
    const ha = this.host(a);
    const hb = this.host(b);
    const nowhere = `${this.subnet}.250`;
    this.exec(ha.ns, ['ip', 'route', 'add', `${hb.ip}/32`, 'via', nowhere, 'dev', ha.dev]);
    this.exec(hb.ns, ['ip', 'route', 'add', `${ha.ip}/32`, 'via', nowhere, 'dev', hb.dev]);
  }

  heal(a: string, b: string): void {
    const ha = this.host(a);
    const hb = this.host(b);
    this.exec(ha.ns, ['ip', 'route', 'del', `${hb.ip}/32`]);
    this.exec(hb.ns, ['ip', 'route', 'del', `${ha.ip}/32`]);
  }

  /** Kills every process on a host with SIGKILL and takes its link down: the host is gone. */
  kill(host: string): void {
    const h = this.host(host);
    for (const pid of run('ip', ['netns', 'pids', h.ns]).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.exec(h.ns, ['ip', 'link', 'set', h.dev, 'down']);
  }

  /** Starts a long-running helper process on a host; destroy() stops it. */
  spawn(host: string, cmd: string[]): ChildProcess {
    const [c, ...args] = [...this.on(host), ...cmd] as [string, ...string[]];
    const child = spawn(c, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(child);
    return child;
  }

  /** Removes everything: processes on the hosts, namespaces, links, the bridge. */
  destroy(): void {
    for (const p of this.procs) p.kill('SIGKILL');
    for (const h of this.hosts.values()) {
      try {
        for (const pid of run('ip', ['netns', 'pids', h.ns]).split(/\s+/).filter(Boolean))
          process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
      try {
        run('ip', ['netns', 'del', h.ns]);
      } catch {
        // gone
      }
    }
    try {
      run('ip', ['link', 'del', this.bridge]);
    } catch {
      // gone
    }
  }
}
