import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { ConfigError } from '../lib/errors.js';
import type { BatchHandler, Handler } from '../worker/types.js';
import type { Worker } from '../worker/worker.js';
import { createLogger } from './logger.js';
import { fail, runUntilSignalled, startTracing } from './lifecycle.js';
import { duration, int, list, loadConfigFile, pick } from './options.js';

/**
 * Loads a handlers module. It may export (as default or as `handlers`) an object mapping
 * handler names to functions, or a function that receives the worker and registers them;
 * and, as `batch`, an object mapping names to batch handlers:
 * `{ name: { handler: async (tasks, ctx) => results, size?, waitMs? } }`.
 * @throws ConfigError naming the file, and the handler, when something does not fit.
 */
export async function loadHandlers(worker: Worker, file: string): Promise<void> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`cannot load handlers from ${file}: ${(err as Error).message}`);
  }
  const exported = mod.default ?? mod.handlers;
  if (typeof exported === 'function') {
    await (exported as (w: Worker) => unknown)(worker);
  } else if (exported && typeof exported === 'object') {
    for (const [name, fn] of Object.entries(exported)) {
      if (typeof fn !== 'function')
        throw new ConfigError(`${file}: handler "${name}" is not a function`);
      worker.handle(name, fn as Handler);
    }
  } else if (exported !== undefined || mod.batch === undefined) {
    throw new ConfigError(
      `${file} must export (default or \`handlers\`) an object of handlers or a function (worker) => void, or \`batch\`, an object of batch handlers`,
    );
  }
  if (mod.batch !== undefined) loadBatchHandlers(worker, file, mod.batch);
}

/** Registers a module's `batch` export: `{ name: { handler, size?, waitMs? } }`. */
function loadBatchHandlers(worker: Worker, file: string, exported: unknown): void {
  if (!exported || typeof exported !== 'object')
    throw new ConfigError(`${file}: \`batch\` must be an object of batch handlers`);
  for (const [name, entry] of Object.entries(exported)) {
    const { handler, size, waitMs } = (entry ?? {}) as Record<string, unknown>;
    if (typeof handler !== 'function') {
      throw new ConfigError(
        `${file}: batch handler "${name}" must be { handler: async (tasks, ctx) => results, size?, waitMs? }`,
      );
    }
    try {
      worker.handleBatch(name, handler as BatchHandler, {
        size: size as number | undefined,
        waitMs: waitMs as number | undefined,
      });
    } catch (err) {
      throw new ConfigError(`${file}: batch handler "${name}": ${(err as Error).message}`);
    }
  }
}

interface WorkerFlags {
  config?: string;
  coordinator?: string[];
  concurrency?: string;
  queues?: string[];
  handlers?: string[];
  allowShell?: boolean;
  shellTimeout?: string;
  shellAllow?: string[];
  shellEnv?: string[];
  name?: string;
  label?: string[];
  builtins: boolean;
  drainTimeout?: string;
  token?: string;
  tlsCa?: string;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `key=value` pairs as labels. @throws ConfigError naming the flag and the bad pair. */
function labelsOf(pairs: string[] | undefined, flag: string): Record<string, string> | undefined {
  if (!pairs) return undefined;
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new ConfigError(`${flag} takes key=value (got "${pair}")`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

function readOptionalFile(path: string | undefined, flag: string): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** `taskq worker`. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run a worker that takes tasks from coordinators over gRPC')
    .option('--config <file>', 'JSON config file (or TASKQ_CONFIG)')
    .option(
      '--coordinator <host:port>',
      'coordinator address; repeat or comma-separate for several (or TASKQ_COORDINATORS)',
      collect,
    )
    .option('-c, --concurrency <n>', 'tasks run at once (or TASKQ_CONCURRENCY)')
    .option('-q, --queues <names>', 'queues to serve, comma-separated (or TASKQ_QUEUES)', collect)
    .option('--handlers <file>', 'JS module exporting handlers; repeatable', collect)
    .option(
      '--allow-shell',
      'also run any command no handler claims as a shell command line (off by default)',
    )
    .option('--shell-timeout <duration>', 'longest a shell command may run (default 10m)')
    .option(
      '--shell-allow <commands>',
      'only these programs may run, without a shell; comma-separated',
      collect,
    )
    .option(
      '--shell-env <names>',
      'environment variables shell commands also get besides PATH, HOME, LANG, TZ; comma-separated (never TASKQ_TOKEN)',
      collect,
    )
    .option('--no-builtins', 'do not serve the built-in echo and sleep handlers')
    .option('--name <name>', 'shown in the workers list')
    .option(
      '--label <key=value>',
      'a label of this worker; tasks that require it (requires) go only to workers that have it; repeatable (or TASKQ_LABELS=k=v,k=v)',
      collect,
    )
    .option('--token <token>', 'API token with the worker role (or TASKQ_TOKEN)')
    .option(
      '--tls-ca <file>',
      'PEM CA to trust for https:// coordinator addresses (or TASKQ_TLS_CA)',
    )
    .option(
      '--drain-timeout <duration>',
      'on SIGTERM, how long to finish tasks in hand (default 30s)',
    )
    .action(async (f: WorkerFlags) => {
      try {
        const file = loadConfigFile(f.config);
        const fw = file.worker ?? {};
        const env = process.env;
        const log = createLogger();
        const shellAllow = list(f.shellAllow);
        const shellEnv = list(f.shellEnv);
        if ((shellAllow || shellEnv || f.shellTimeout) && !f.allowShell) {
          throw new ConfigError(
            '--shell-allow, --shell-env and --shell-timeout apply to the shell executor: add --allow-shell to enable it',
          );
        }
        const { Worker } = await import('../worker/worker.js');
        const worker = new Worker({
          coordinators: pick(
            list(f.coordinator),
            list(env.TASKQ_COORDINATORS),
            fw.coordinators as string[] | undefined,
          ),
          concurrency: pick(
            int(f.concurrency, '--concurrency'),
            int(env.TASKQ_CONCURRENCY, 'TASKQ_CONCURRENCY'),
            fw.concurrency as number | undefined,
          ),
          queues: pick(list(f.queues), list(env.TASKQ_QUEUES), fw.queues as string[] | undefined),
          name: pick(f.name, env.TASKQ_WORKER_NAME, fw.name as string | undefined),
          labels: pick(
            labelsOf(list(f.label), '--label'),
            labelsOf(list(env.TASKQ_LABELS), 'TASKQ_LABELS'),
            fw.labels as Record<string, string> | undefined,
          ),
          builtins: f.builtins,
          token: pick(f.token, env.TASKQ_TOKEN, fw.token as string | undefined),
          tlsCa: readOptionalFile(
            pick(f.tlsCa, env.TASKQ_TLS_CA, fw.tlsCa as string | undefined),
            '--tls-ca',
          ),
          shell: f.allowShell
            ? {
                timeoutMs: duration(f.shellTimeout, '--shell-timeout', 7),
                ...(shellAllow ? { allow: shellAllow } : {}),
                ...(shellEnv ? { env: shellEnv } : {}),
              }
            : false,
          logger: log,
        });
        for (const h of f.handlers ?? []) await loadHandlers(worker, h);
        const drainMs = duration(f.drainTimeout, '--drain-timeout', 7) ?? 30_000;
        const stopTracing = await startTracing('worker');
        await runUntilSignalled(
          log,
          () => {
            // A refused token or id is a configuration error: say what to do, exit non-zero.
            void worker.refused().then((err) => fail(new ConfigError(err.message)));
            worker.start();
            log.info(
              {
                coordinators: worker.options.coordinators,
                handlers: worker.handlerNames,
                shell: Boolean(f.allowShell),
                concurrency: worker.options.concurrency,
              },
              'worker started',
            );
            return Promise.resolve();
          },
          () => worker.stop({ timeoutMs: drainMs }).finally(stopTracing),
        );
      } catch (err) {
        fail(err);
      }
    });
}
