import { Coordinator } from '../../src/coordinator/index.js';
import { Scheduler } from '../../src/scheduler/index.js';
import type { CoordinatorOptions, SchedulerOptions } from '../../src/config/index.js';
import { Worker, type WorkerOptions } from '../../src/worker/index.js';
import type { Db } from '../../src/store/db.js';
import { databaseUrl } from './db.js';
import { track } from './resources.js';

/** A coordinator in this process on free ports, tracked by the leak check. */
export async function inProcessCoordinator(
  db: Db,
  opts: {
    scope?: 'test' | 'file';
    leaseMs?: number;
    heartbeatMs?: number;
    pollMs?: number;
    extra?: Partial<CoordinatorOptions>;
  } = {},
): Promise<Coordinator> {
  const c = new Coordinator({
    databaseUrl: databaseUrl(),
    schema: db.schema,
    grpcPort: 0,
    httpPort: 0,
    leaseMs: opts.leaseMs ?? 2000,
    heartbeatMs: opts.heartbeatMs ?? 500,
    ...(opts.pollMs ? { pollMs: opts.pollMs } : {}),
    ...opts.extra,
  });
  let open = true;
  track(
    {
      name: 'coordinator',
      isOpen: () => open,
      stop: () => c.stop().then(() => void (open = false)),
    },
    opts.scope,
  );
  await c.start();
  return c;
}

/** A scheduler (REST API) in this process on a free port. */
export async function inProcessScheduler(
  db: Db,
  scope: 'test' | 'file' = 'test',
  extra: Partial<SchedulerOptions> = {},
): Promise<Scheduler> {
  const s = new Scheduler({ databaseUrl: databaseUrl(), schema: db.schema, httpPort: 0, ...extra });
  let open = true;
  track(
    { name: 'scheduler', isOpen: () => open, stop: () => s.stop().then(() => void (open = false)) },
    scope,
  );
  await s.start();
  return s;
}

/** A worker SDK instance connected to `coordinator`. */
export async function inProcessWorker<H extends Record<string, unknown> = Record<string, unknown>>(
  coordinator: Coordinator,
  opts: WorkerOptions = {},
  setup?: (w: Worker<H>) => void,
  scope: 'test' | 'file' = 'test',
): Promise<Worker<H>> {
  const w = new Worker<H>({ coordinators: [`127.0.0.1:${coordinator.grpcPort}`], ...opts });
  setup?.(w);
  let open = true;
  track(
    {
      name: 'worker',
      isOpen: () => open,
      stop: () => w.stop({ timeoutMs: 2000 }).then(() => void (open = false)),
    },
    scope,
  );
  w.start();
  await w.connected();
  return w;
}
