import { createRequire } from 'node:module';
import { join } from 'node:path';
import { analyzeSchema, dropSchema } from '../lib/database.js';
import { PEER_NODE, PEERS_DIR, installedVersion, type PackageHome } from '../lib/peer-install.js';
import { startPeerHost, totalCpuMs, type BenchProcess } from '../lib/processes.js';
import { REDIS_URL } from '../lib/redis.js';
import { sleep } from '../lib/timing.js';
import { PEERS, type PeerName } from './peers.js';
import type { HostConfig, StoredJoin, WorkerStats } from './peer-host/protocol.js';
import type {
  HandlerKind,
  JoinTimeline,
  QueueSession,
  SessionContext,
  SessionFactory,
  SessionRoles,
  TaskSpec,
} from './types.js';

/** The Node binary for a peer: the one running the bench, or bench/peers' Node 24. */
export function peerNodeBinary(node: PackageHome): string {
  return node === 'project' ? process.execPath : PEER_NODE;
}

/**
 * Opens a peer's session: a main peer host process that sets the schema or queues up and
 * serves adds and counts, and, on startWorkers, worker host processes (one per
 * `workerProcesses`; one in smoke runs). Every process runs the peer on the Node its spec
 * names, so its CPU time is its own.
 */
export function openPeer(peer: PeerName, smoke: boolean): SessionFactory {
  return async (ctx, roles) => {
    const s = new PeerSession(peer, ctx, roles, smoke ? 1 : PEERS[peer].workerProcesses);
    try {
      await s.start();
    } catch (err) {
      await s.close().catch(() => undefined);
      throw err;
    }
    return s;
  };
}

class PeerSession implements QueueSession {
  private main: BenchProcess | undefined;
  private readonly workers: BenchProcess[] = [];
  private readonly config: Omit<HostConfig, 'role'>;
  private readonly node: string;
  readonly datastore: 'postgres' | 'redis';

  constructor(
    readonly system: PeerName,
    private readonly ctx: SessionContext,
    private readonly roles: SessionRoles,
    private readonly workerProcesses: number,
  ) {
    const spec = PEERS[system];
    this.node = peerNodeBinary(spec.node);
    this.datastore = spec.backend === 'redis' ? 'redis' : 'postgres';
    const fromPeers = (pkg: string): string =>
      createRequire(join(PEERS_DIR, 'package.json')).resolve(pkg);
    this.config = {
      adapter: spec.adapter,
      library: spec.home === 'project' ? spec.pkg : fromPeers(spec.pkg),
      url: ctx.url,
      schema: ctx.schema,
      settings: spec.settings,
      kind: roles.workers,
      variant: roles.variant ?? 'plain',
      ...(spec.backend ? { backend: spec.backend } : {}),
      ...(spec.backend === 'redis' ? { redisUrl: REDIS_URL, ioredis: fromPeers('ioredis') } : {}),
    };
  }

  async start(): Promise<void> {
    this.main = startPeerHost(`${this.system} main`, this.node, { ...this.config, role: 'main' });
    await this.main.hello();
  }

  private host(): BenchProcess {
    if (!this.main) throw new Error(`${this.system}: not started`);
    return this.main;
  }

  async startWorkers(): Promise<void> {
    const kind: HandlerKind | null = this.roles.workers;
    if (!kind) throw new Error('this session has no workers role');
    for (let i = 0; i < this.workerProcesses; i++) {
      const w = startPeerHost(`${this.system} worker-${i + 1}`, this.node, {
        ...this.config,
        role: 'worker',
      });
      this.workers.push(w);
    }
    await Promise.all(
      this.workers.map(async (w) => {
        await w.hello();
        await w.request('startWorkers', { kind });
      }),
    );
  }

  addBulk(tasks: TaskSpec[]): Promise<void> {
    return this.host().request('addBulk', { tasks });
  }

  addOne(task: TaskSpec): Promise<void> {
    return this.host().request('addOne', { task });
  }

  loadBacklog(n: number): Promise<void> {
    return this.host().request('loadBacklog', { n });
  }

  async analyze(): Promise<void> {
    // BullMQ on Redis has no tables; its session's schema holds none.
    if (this.datastore === 'postgres') await analyzeSchema(this.ctx.pool, this.ctx.schema);
  }

  private async workerStats(): Promise<WorkerStats[]> {
    return Promise.all(this.workers.map((w) => w.request<WorkerStats>('workerStats')));
  }

  async progressCount(): Promise<number> {
    return (await this.workerStats()).reduce((n, s) => n + s.handled, 0);
  }

  async doneCount(): Promise<number> {
    const n = await this.host().request<number | null>('doneCount');
    if (n !== null) return n;
    return (await this.workerStats()).reduce((sum, s) => sum + s.completed.length, 0);
  }

  unfinishedCount(): Promise<number> {
    return this.host().request<number>('unfinishedCount');
  }

  async completionTimes(): Promise<number[]> {
    const stored = await this.host().request<number[] | null>('completionTimes');
    if (stored !== null) return stored;
    // A worker's completion event can come a moment after its datastore counts the job
    // done: wait (briefly) until the events account for every done task.
    const done = await this.host().request<number | null>('doneCount');
    const deadline = Date.now() + 5000;
    for (;;) {
      const times = (await this.workerStats()).flatMap((s) => s.completed);
      if (done === null || times.length >= done || Date.now() > deadline) {
        return times.sort((a, b) => a - b);
      }
      await sleep(20);
    }
  }

  async handlerStarts(): Promise<Map<number, number>> {
    return new Map((await this.workerStats()).flatMap((s) => s.starts));
  }

  clientCpuMs(): number | null {
    return totalCpuMs([this.main, ...this.workers]);
  }

  dispatcherRss(): number | null {
    return null;
  }

  submitFanout(children: number): Promise<string> {
    return this.host().request('submitFanout', { children });
  }

  async fanoutTimeline(id: string): Promise<JoinTimeline | null> {
    return this.joinTimeline(id, await this.host().request('fanoutTimeline', { ref: id }));
  }

  submitDag(nodes: number): Promise<string> {
    return this.host().request('submitDag', { nodes });
  }

  async dagTimeline(id: string): Promise<JoinTimeline | null> {
    return this.joinTimeline(id, await this.host().request('dagTimeline', { ref: id }));
  }

  /**
   * Completes what the main process found stored with what the workers saw: the handlers'
   * marks (`released:<id>`, `join:<id>`) and, for the last child's completion, the workers'
   * completion events up to the join's success (rounds run one after the other).
   * @throws Error when a time is known neither way.
   */
  private async joinTimeline(id: string, stored: StoredJoin | null): Promise<JoinTimeline | null> {
    if (!stored) return null;
    const stats = await this.workerStats();
    const mark = (name: string): number | undefined =>
      stats.map((s) => s.marks[name]).find((t) => t !== undefined);
    const lastEvent = Math.max(
      ...stats.flatMap((s) => s.completed).filter((t) => t <= stored.doneAt),
    );
    const releasedAt = stored.releasedAt ?? mark(`released:${id}`);
    const joinStartedAt = stored.result?.startedAt ?? mark(`join:${id}`);
    const lastDone = stored.lastDone ?? (Number.isFinite(lastEvent) ? lastEvent : undefined);
    const done = stored.done ?? stored.result?.seen;
    if (
      releasedAt === undefined ||
      joinStartedAt === undefined ||
      lastDone === undefined ||
      done === undefined
    ) {
      throw new Error(`${this.system}: join ${id} lacks a time (${JSON.stringify(stored)})`);
    }
    return {
      releasedAt,
      firstStart: stored.firstStart,
      lastDone,
      joinClaimedAt: stored.claimedAt,
      joinStartedAt,
      doneAt: stored.doneAt,
      done,
      resultsSeen: stored.result?.seen ?? null,
    };
  }

  async close(): Promise<void> {
    // Workers first, so nothing runs while the main process cleans up.
    const closeHost = async (p: BenchProcess): Promise<void> => {
      if (p.running) {
        await Promise.race([
          p.request('close').catch(() => undefined),
          new Promise((r) => setTimeout(r, 15_000).unref()),
        ]);
      }
      await p.stop(1000);
    };
    await Promise.all(this.workers.map(closeHost));
    if (this.main) await closeHost(this.main);
    await dropSchema(this.ctx.pool, this.ctx.schema);
  }
}

/** A peer's library version as installed, or null when it is not. */
export function peerVersion(peer: PeerName): string | null {
  const spec = PEERS[peer];
  return installedVersion(spec.home, spec.pkg);
}
