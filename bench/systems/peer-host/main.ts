import type { HandlerKind } from '../types.js';
import type {
  HostConfig,
  HostRequest,
  OpenAdapter,
  PeerAdapter,
  PeerAdapterName,
  WorkerStats,
} from './protocol.js';

/**
 * A peer host: one child process of the bench that runs one peer library, on whichever Node
 * binary started it, and answers the bench's requests over IPC (bench/systems/peer.ts is
 * the other end). It says hello, with its Node and library versions, once it is ready.
 */
const ADAPTERS: Record<PeerAdapterName, () => Promise<{ open: OpenAdapter }>> = {
  graphile: () => import('./graphile.js'),
  pgboss: () => import('./pgboss.js'),
  bullmq: () => import('./bullmq.js'),
};

const config = JSON.parse(process.env.BENCH_PEER_CONFIG ?? '{}') as HostConfig;
const stats: WorkerStats = { handled: 0, starts: [], completed: [], marks: {} };

// A library's stray promise must not end the process while the bench still counts on it;
// report it, and let the bench's own checks in the database judge the run.
process.on('unhandledRejection', (err) => {
  process.stderr.write(`unhandled rejection: ${String(err)}\n`);
});
// The bench went away: nothing is left to serve.
process.on('disconnect', () => process.exit(0));

async function answer(adapter: PeerAdapter, req: HostRequest): Promise<unknown> {
  switch (req.op) {
    case 'addBulk':
      return adapter.addBulk(req.tasks);
    case 'addOne':
      return adapter.addOne(req.task);
    case 'loadBacklog':
      return adapter.loadBacklog(req.n);
    case 'startWorkers':
      return startWorkers(adapter, req.kind);
    case 'doneCount':
      return adapter.doneCount();
    case 'unfinishedCount':
      return adapter.unfinishedCount();
    case 'completionTimes':
      return adapter.completionTimes();
    case 'workerStats':
      return stats;
    case 'submitFanout':
      if (!adapter.submitFanout) throw notOffered(req.op);
      return adapter.submitFanout(req.children);
    case 'fanoutTimeline':
      if (!adapter.fanoutTimeline) throw notOffered(req.op);
      return adapter.fanoutTimeline(req.ref);
    case 'submitDag':
      if (!adapter.submitDag) throw notOffered(req.op);
      return adapter.submitDag(req.nodes);
    case 'dagTimeline':
      if (!adapter.dagTimeline) throw notOffered(req.op);
      return adapter.dagTimeline(req.ref);
    case 'close':
      return adapter.close();
  }
}

/**
 * The error for an operation the adapter lacks: the bench asks only for what
 * bench/systems/features.ts says the peer offers.
 */
function notOffered(op: string): Error {
  return new Error(`${config.adapter} does not offer ${op}`);
}

function startWorkers(adapter: PeerAdapter, kind: HandlerKind): Promise<void> {
  return adapter.startWorkers(kind, {
    handled: (n) => (stats.handled += n),
    started: (i, at) => stats.starts.push([i, at]),
    completed: (at) => stats.completed.push(at ?? Date.now()),
    mark: (name, at) => (stats.marks[name] = at),
  });
}

async function main(): Promise<void> {
  const { open } = await ADAPTERS[config.adapter]();
  const adapter = await open(config);
  process.on('message', (raw) => {
    const req = raw as HostRequest;
    answer(adapter, req).then(
      (value) => {
        // After close, the answer is the last thing this process does.
        process.send?.({ id: req.id, ok: true, value: value ?? null }, undefined, {}, () => {
          if (req.op === 'close') process.exit(0);
        });
      },
      (err: unknown) =>
        process.send?.({
          id: req.id,
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        }),
    );
  });
  process.send?.({ hello: { node: process.versions.node, pid: process.pid } });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `peer host failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
