import type { Db } from '../../store/db.js';
import { listQueues } from '../../store/queues.js';
import { recentStats, type Stats } from '../../store/stats.js';
import { listWorkers } from '../../store/workers.js';
import { WORKER_FRESH_MS } from './queues.js';
import { guardDb } from './guard.js';

/** What the dashboard's overview draws: throughput, latency, depth and workers. */
export interface Overview extends Stats {
  depth: {
    /** Due now in queues that are not paused: waiting for a worker. */
    due: number;
    /** Due now in paused queues: waiting for a resume, not for a worker. */
    paused: number;
    scheduled: number;
    running: number;
    dead: number;
  };
  workers: { live: number; silent: number; slots: number };
}

/** Throughput, latency percentiles, depth and workers over a recent window. One per process. */
export class StatsApi {
  constructor(private readonly db: Db) {}

  async overview(windowS: number, bucketS: number): Promise<Overview> {
    const [stats, queues, workers] = await guardDb(() =>
      Promise.all([
        recentStats(this.db, windowS, bucketS),
        listQueues(this.db),
        listWorkers(this.db, WORKER_FRESH_MS, 60_000),
      ]),
    );
    const depth = { due: 0, paused: 0, scheduled: 0, running: 0, dead: 0 };
    for (const q of queues) {
      if (q.paused) depth.paused += q.due;
      else depth.due += q.due;
      depth.scheduled += q.scheduled;
      depth.running += q.running;
      depth.dead += q.dead;
    }
    const live = workers.filter((w) => w.state === 'live');
    return {
      ...stats,
      depth,
      workers: {
        live: live.length,
        silent: workers.filter((w) => w.state === 'silent').length,
        slots: live.reduce((n, w) => n + w.concurrency, 0),
      },
    };
  }
}
