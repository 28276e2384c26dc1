import { inject } from 'vitest';
import { startTaskq, type TaskqProcess } from './processes.js';

export const HANDLERS_FIXTURE = new URL('../fixtures/handlers.mjs', import.meta.url).pathname;

/** Environment for child processes: this run's database, and the test file's schema. */
export function childEnv(schema: string): Record<string, string> {
  return { DATABASE_URL: inject('databaseUrl'), TASKQ_SCHEMA: schema };
}

/** A coordinator child process on free ports, with short leases so tests run fast. */
export async function startCoordinator(
  schema: string,
  opts: { scope?: 'test' | 'file'; lease?: string; heartbeat?: string; name?: string } = {},
): Promise<{ proc: TaskqProcess; grpcPort: number; httpPort: number }> {
  const proc = startTaskq(
    opts.name ?? 'coordinator',
    [
      'coordinator',
      '--grpc-port',
      '0',
      '--http-port',
      '0',
      '--lease',
      opts.lease ?? '2s',
      '--heartbeat',
      opts.heartbeat ?? '500ms',
    ],
    childEnv(schema),
    opts.scope,
  );
  const started = await proc.waitForMsg('coordinator started');
  return { proc, grpcPort: started.grpcPort as number, httpPort: started.httpPort as number };
}

/** A scheduler child process on a free port. */
export async function startScheduler(
  schema: string,
  scope: 'test' | 'file' = 'test',
): Promise<{ proc: TaskqProcess; httpPort: number }> {
  const proc = startTaskq('scheduler', ['scheduler', '--port', '0'], childEnv(schema), scope);
  const started = await proc.waitForMsg('scheduler started');
  return { proc, httpPort: started.httpPort as number };
}

/** A worker child process, connected, with the test handlers loaded. */
export async function startWorker(
  schema: string,
  grpcPort: number,
  opts: {
    queue?: string;
    concurrency?: number;
    name?: string;
    extra?: string[];
    scope?: 'test' | 'file';
  } = {},
): Promise<{ proc: TaskqProcess; workerId: string }> {
  const proc = startTaskq(
    opts.name ?? 'worker',
    [
      'worker',
      '--coordinator',
      `127.0.0.1:${grpcPort}`,
      '--concurrency',
      String(opts.concurrency ?? 4),
      '--handlers',
      HANDLERS_FIXTURE,
      ...(opts.queue ? ['--queues', opts.queue] : []),
      ...(opts.name ? ['--name', opts.name] : []),
      ...(opts.extra ?? []),
    ],
    childEnv(schema),
    opts.scope,
  );
  const connected = await proc.waitForMsg('connected');
  return { proc, workerId: connected.workerId as string };
}
