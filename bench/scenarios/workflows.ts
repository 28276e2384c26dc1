import type { SystemName } from '../lib/options.js';
import { perSecond } from '../lib/stats.js';
import { sleep } from '../lib/timing.js';
import type { JoinTimeline, QueueSession } from '../systems/types.js';
import { withSession, type RunContext } from './context.js';
import { datastoreMeter, SETTLE_MS } from './drain.js';

/** One measured fan-out or DAG: its timeline and when the bench submitted it. */
export interface JoinRound extends JoinTimeline {
  /** Just before the submit call, ms since the epoch. */
  submittedAt: number;
}

/** The figures of one round, in ms (or per second), derived from its timeline. */
export interface JoinFigures {
  /** Submit call → the join's stored success: the whole workflow. */
  totalMs: number;
  /**
   * Submit → the children stored and runnable (fan-out: the parent's first run, spawning
   * included), or the DAG's root done → its first node started (the release of the nodes).
   */
  releaseMs: number | null;
  /** Children or nodes per second, from their release to the last one's completion. */
  perSec: number;
  /** The fan-in: the last child's (node's) completion → the join's handler running. */
  fanInMs: number;
  /** The part of the fan-in until the join was claimed; null where not recorded. */
  fanInClaimMs: number | null;
}

/** A fan-out or DAG scenario's result for one system. */
export interface WorkflowResult {
  /** Children per parent, or nodes between root and join. */
  size: number;
  rounds: JoinRound[];
  /** Each figure's median over the rounds. */
  median: JoinFigures;
  /**
   * CPU time per 1000 children (nodes) over the measured rounds, submit to the last join's
   * success, as the drain reports it: the system's own processes and its datastore's server.
   */
  cpuMsPer1000: { client: number | null; datastore: number | null };
}

/** Which of the two workflow shapes. */
type Shape = 'fanout' | 'dag';

/**
 * Scenario 8: one parent spawns N no-op children and waits for them without a slot (ours:
 * `ctx.spawn`, `return ctx.waitFor(...)`), then runs again with every child's outcome. Timed
 * from the submit to the parent's final success; the fan-in is the last child's completion →
 * the parent's resumed handler.
 */
export function fanout(ctx: RunContext, system: SystemName): Promise<WorkflowResult> {
  return workflowRounds(ctx, system, 'fanout', ctx.sizes.fanoutChildren);
}

/**
 * Scenario 9: one graph in one submit, a no-op root → N no-op nodes → a join that depends on
 * every node (ours: POST /v1/workflows). Timed from the submit to the join's success; the
 * fan-in is the last node's completion → the join's handler.
 */
export function dag(ctx: RunContext, system: SystemName): Promise<WorkflowResult> {
  return workflowRounds(ctx, system, 'dag', ctx.sizes.dagNodes);
}

async function workflowRounds(
  ctx: RunContext,
  system: SystemName,
  shape: Shape,
  size: number,
): Promise<WorkflowResult> {
  const roles = { producer: true, workers: shape } as const;
  return withSession(ctx, system, shape, roles, async (s) => {
    await s.startWorkers();
    await sleep(SETTLE_MS);
    // A small unmeasured round first, so that connections, plans and the JIT are warm, as
    // the latency scenario warms every system; then ANALYZE, as autovacuum soon would. On a
    // fresh schema's unanalyzed tables, our release of a DAG's nodes is planned with a
    // sequential scan per node.
    if (ctx.mode !== 'smoke') {
      await runRound(s, shape, Math.min(100, size));
      await s.analyze();
    }
    const meter = await datastoreMeter(ctx, s);
    const rounds: JoinRound[] = [];
    // CPU is summed over the rounds themselves (submit to the join's success), not the
    // pauses between them, where idle processes' heartbeats and polls would weigh.
    const used = { client: 0 as number | null, datastore: 0 as number | null };
    const add = (sum: number | null, from: number | null, to: number | null): number | null =>
      sum === null || from === null || to === null ? null : sum + (to - from);
    for (let r = 0; r < ctx.sizes.workflowRounds; r++) {
      if (r > 0) await sleep(SETTLE_MS);
      const client0 = s.clientCpuMs();
      const datastore0 = meter.read();
      const round = await runRound(s, shape, size);
      used.client = add(used.client, client0, s.clientCpuMs());
      used.datastore = add(used.datastore, datastore0, meter.read());
      if (round.done !== size) {
        throw new Error(`${system}: ${round.done} of ${size} ${shape} tasks succeeded`);
      }
      if (round.resultsSeen !== null && round.resultsSeen !== size) {
        throw new Error(`${system}: the join saw ${round.resultsSeen} of ${size} results`);
      }
      rounds.push(round);
    }
    const per1000 = (ms: number | null): number | null =>
      ms === null ? null : (ms * 1000) / (size * rounds.length);
    return {
      size,
      rounds,
      median: medianFigures(rounds.map((r) => figures(shape, size, r))),
      cpuMsPer1000: { client: per1000(used.client), datastore: per1000(used.datastore) },
    };
  });
}

async function runRound(s: QueueSession, shape: Shape, size: number): Promise<JoinRound> {
  const submittedAt = Date.now();
  const id = await (shape === 'fanout' ? s.submitFanout(size) : s.submitDag(size));
  const read = (): Promise<JoinTimeline | null> =>
    shape === 'fanout' ? s.fanoutTimeline(id) : s.dagTimeline(id);
  // Figures come from stored times, so the poll's period costs wall time, not accuracy.
  const deadline = Date.now() + 120_000 + size * 10;
  for (;;) {
    const t = await read();
    if (t) return { ...t, submittedAt };
    if (Date.now() > deadline) throw new Error(`${shape} ${id}: not done in time`);
    await sleep(100);
  }
}

function figures(shape: Shape, size: number, r: JoinRound): JoinFigures {
  return {
    totalMs: r.doneAt - r.submittedAt,
    releaseMs:
      shape === 'fanout'
        ? r.releasedAt - r.submittedAt
        : r.firstStart === null
          ? null
          : r.firstStart - r.releasedAt,
    perSec: perSecond(size, r.lastDone - r.releasedAt),
    fanInMs: r.joinStartedAt - r.lastDone,
    fanInClaimMs: r.joinClaimedAt === null ? null : r.joinClaimedAt - r.lastDone,
  };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function medianFigures(all: JoinFigures[]): JoinFigures {
  const of = (f: (x: JoinFigures) => number | null): number | null => {
    const xs = all.map(f).filter((x): x is number => x !== null);
    return xs.length === 0 ? null : median(xs);
  };
  return {
    totalMs: of((x) => x.totalMs) ?? NaN,
    releaseMs: of((x) => x.releaseMs),
    perSec: of((x) => x.perSec) ?? NaN,
    fanInMs: of((x) => x.fanInMs) ?? NaN,
    fanInClaimMs: of((x) => x.fanInClaimMs),
  };
}
