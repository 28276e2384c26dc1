import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { databaseUrlFromEnv } from '../config/index.js';
import type { Coordinator } from '../coordinator/index.js';
import { ConfigError } from '../lib/errors.js';
import type { Scheduler } from '../scheduler/index.js';
import type { EmbeddedPostgres } from '../store/embedded.js';
import type { Worker } from '../worker/worker.js';
import { createLogger } from './logger.js';
import { fail, runUntilSignalled } from './lifecycle.js';
import { int } from './options.js';
import { loadHandlers } from './worker.js';

interface DevFlags {
  dataDir: string;
  workers: string;
  concurrency: string;
  allowShell?: boolean;
  handlers?: string[];
  grpcPort: string;
  httpPort: string;
  schedulerPort: string;
  pgPort: string;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `taskq dev`: everything in one process, with its own PostgreSQL unless DATABASE_URL is set. */
export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description(
      'run everything locally: PostgreSQL (embedded), coordinator, scheduler and workers',
    )
    .option('--data-dir <dir>', 'where the embedded PostgreSQL keeps its data', '.taskq')
    .option('--workers <n>', 'worker count', '2')
    .option('-c, --concurrency <n>', 'tasks per worker at once', '10')
    .option('--allow-shell', 'let the workers run any command as a shell command line')
    .option('--handlers <file>', 'JS module exporting handlers; repeatable', collect)
    .option('--grpc-port <port>', 'coordinator gRPC port', '50051')
    .option('--http-port <port>', 'coordinator REST port', '8080')
    .option('--scheduler-port <port>', 'scheduler REST port', '8081')
    .option('--pg-port <port>', 'preferred port for the embedded PostgreSQL', '54329')
    .action(async (f: DevFlags) => {
      try {
        await dev(f);
      } catch (err) {
        fail(err);
      }
    });
}

async function dev(f: DevFlags): Promise<void> {
  const log = createLogger({ pretty: true });
  const dataDir = resolve(f.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const lock = claimLock(join(dataDir, 'dev.pid'));
  const workerCount = int(f.workers, '--workers') ?? 2;
  if (workerCount < 0 || workerCount > 64) throw new ConfigError('--workers must be from 0 to 64');

  let pg: EmbeddedPostgres | undefined;
  let coordinator: Coordinator | undefined;
  let scheduler: Scheduler | undefined;
  const workers: Worker[] = [];

  const start = async (): Promise<void> => {
    const [{ EmbeddedPostgres }, { Coordinator }, { Scheduler }, { Worker }] = await Promise.all([
      import('../store/embedded.js'),
      import('../coordinator/index.js'),
      import('../scheduler/index.js'),
      import('../worker/worker.js'),
    ]);
    let url = databaseUrlFromEnv();
    if (url) {
      log.info('using the PostgreSQL in DATABASE_URL');
    } else {
      pg = new EmbeddedPostgres({
        dataDir: join(dataDir, 'pg'),
        port: int(f.pgPort, '--pg-port'),
        logger: log,
      });
      url = await pg.start();
    }
    coordinator = new Coordinator({
      databaseUrl: url,
      schema: process.env.TASKQ_SCHEMA,
      grpcPort: int(f.grpcPort, '--grpc-port'),
      httpPort: int(f.httpPort, '--http-port'),
      logger: log,
    });
    await coordinator.start();
    scheduler = new Scheduler({
      databaseUrl: url,
      schema: process.env.TASKQ_SCHEMA,
      httpPort: int(f.schedulerPort, '--scheduler-port'),
      logger: log,
    });
    await scheduler.start();
    for (let i = 1; i <= workerCount; i++) {
      const w = new Worker({
        coordinators: [`127.0.0.1:${coordinator.grpcPort}`],
        concurrency: int(f.concurrency, '--concurrency'),
        name: `dev-worker-${i}`,
        shell: Boolean(f.allowShell),
        logger: log,
      });
      for (const h of f.handlers ?? []) await loadHandlers(w, h);
      w.start();
      workers.push(w);
    }
    await Promise.all(workers.map((w) => w.connected()));
    printBanner(coordinator, scheduler, workers, Boolean(f.allowShell), pg ? pg.dataDir : null);
  };

  const stop = async (): Promise<void> => {
    await Promise.all(workers.map((w) => w.stop()));
    await scheduler?.stop();
    await coordinator?.stop();
    await pg?.stop();
    lock.release();
  };

  await runUntilSignalled(log, start, stop, {
    stopWithParent: true,
    // Forced out mid-drain: PostgreSQL still stops, and the data folder is free again.
    onForcedExit: () => {
      pg?.stopSoon();
      lock.release();
    },
  });
}

function printBanner(
  c: Coordinator,
  s: Scheduler,
  workers: Worker[],
  shell: boolean,
  pgDir: string | null,
): void {
  const lines = [
    '',
    '  Task Queue is running.',
    '',
    `  Scheduler REST   http://127.0.0.1:${s.httpPort}     (POST /schedule, GET /status, /v1/tasks)`,
    `  Coordinator REST http://127.0.0.1:${c.httpPort}     (same API; OpenAPI at /docs)`,
    `  Coordinator gRPC 127.0.0.1:${c.grpcPort}           (TaskService, QueueService, WorkerService)`,
    `  Dashboard        http://127.0.0.1:${c.httpPort}/ui/`,
    `  Workers          ${workers.length} × ${workers[0]?.options.concurrency ?? 0} slots, handlers: ${workers[0]?.handlerNames.join(', ') ?? '-'}${shell ? ', any shell command' : ''}`,
    pgDir ? `  PostgreSQL       embedded, data in ${pgDir}` : '  PostgreSQL       DATABASE_URL',
    '',
    '  Try it:',
    `    curl -X POST http://localhost:${s.httpPort}/schedule -d '{"command":"echo hi", "scheduled_at":"2023-04-01T15:04:05Z"}'`,
    `    curl http://localhost:${s.httpPort}/status?task_id=<task_id from above>`,
    '',
    '  Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/**
 * One `taskq dev` per data folder. A pid file left by a killed run is taken over; one whose
 * process still runs is refused with a clear message.
 */
function claimLock(file: string): { release(): void } {
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isTaskqProcess(pid)) {
      throw new ConfigError(
        `another taskq dev (pid ${pid}) is using ${file.replace(/\/dev\.pid$/, '')}; stop it first, or pass --data-dir`,
      );
    }
  }
  writeFileSync(file, String(process.pid));
  return {
    release() {
      try {
        if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
      } catch {
        // already gone
      }
    },
  };
}

function isTaskqProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dev');
  } catch {
    return true; // alive, and we cannot tell: be safe
  }
}
