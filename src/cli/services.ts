import type { Command } from 'commander';
import { createLogger } from './logger.js';
import { fail, runUntilSignalled, startTracing } from './lifecycle.js';
import { databaseUrl, loadConfigFile, optionReader, pick } from './options.js';

interface ServiceFlags {
  config?: string;
  databaseUrl?: string;
  schema?: string;
  host?: string;
  insecure?: boolean;
  publicMetrics?: boolean;
}

/** The options of the REST API both services serve. */
function apiOptions(cmd: Command): Command {
  return cmd
    .option(
      '--rate-limit <n>',
      'requests per second per token or address (or TASKQ_RATE_LIMIT); default unlimited',
    )
    .option(
      '--max-queue-depth <n>',
      'answer 429 to submits for a queue holding this many due tasks (or TASKQ_MAX_QUEUE_DEPTH)',
    )
    .option(
      '--tls-cert <file>',
      'PEM certificate: serve HTTPS (and gRPC over TLS) (or TASKQ_TLS_CERT)',
    )
    .option('--tls-key <file>', 'PEM private key for --tls-cert (or TASKQ_TLS_KEY)')
    .option('--insecure', 'allow binding a non-loopback address without any API token')
    .option(
      '--public-metrics',
      'serve /metrics without a token even when tokens exist (or TASKQ_PUBLIC_METRICS=true)',
    );
}

/** `taskq coordinator`, `taskq scheduler` and `taskq migrate`. */
export function registerServiceCommands(program: Command): void {
  apiOptions(
    program
      .command('coordinator')
      .description('run a coordinator: worker streams and dispatch (gRPC), plus the REST API')
      .option('--config <file>', 'JSON config file (or TASKQ_CONFIG)')
      .option('--database-url <url>', 'PostgreSQL URL (or DATABASE_URL)')
      .option('--schema <name>', 'schema holding the tables (or TASKQ_SCHEMA)', undefined)
      .option('--host <address>', 'interface to bind (or TASKQ_HOST)', undefined)
      .option('--grpc-port <port>', 'gRPC port for workers and clients (or TASKQ_GRPC_PORT)')
      .option('--http-port <port>', 'REST port (or TASKQ_HTTP_PORT)')
      .option('--lease <duration>', 'a silent worker loses its tasks after this (or TASKQ_LEASE)')
      .option('--heartbeat <duration>', 'worker heartbeat interval (or TASKQ_HEARTBEAT)')
      .option('--poll <duration>', 'fallback poll interval (or TASKQ_POLL)')
      .option(
        '--leader-ttl <duration>',
        'a leader that stops renewing loses the role after this (or TASKQ_LEADER_TTL)',
      )
      .option(
        '--retention <duration>',
        'delete finished tasks this long after they finish, e.g. 30d; 0 keeps them (or TASKQ_RETENTION)',
      )
      .option(
        '--no-listen',
        'do not LISTEN for wake-ups (PgBouncer in transaction mode); poll only',
      ),
  ).action(async (f: ServiceFlags & { listen: boolean }) => {
    try {
      const file = loadConfigFile(f.config);
      const env = process.env;
      const opt = optionReader(f, file.coordinator ?? {}, 'coordinator');
      const log = createLogger();
      const listenEnv = env.TASKQ_LISTEN === undefined ? undefined : env.TASKQ_LISTEN !== 'false';
      // Loaded when run, so the other commands start fast.
      const { Coordinator } = await import('../coordinator/index.js');
      const coordinator = new Coordinator({
        databaseUrl: databaseUrl(f.databaseUrl, file) as string,
        schema: pick(f.schema, env.TASKQ_SCHEMA, file.schema),
        host: opt.string('host', 'TASKQ_HOST'),
        grpcPort: opt.int('grpcPort', 'TASKQ_GRPC_PORT'),
        httpPort: opt.int('httpPort', 'TASKQ_HTTP_PORT'),
        leaseMs: opt.duration('lease', 'TASKQ_LEASE'),
        heartbeatMs: opt.duration('heartbeat', 'TASKQ_HEARTBEAT'),
        pollMs: opt.duration('poll', 'TASKQ_POLL'),
        leaderTtlMs: opt.duration('leaderTtl', 'TASKQ_LEADER_TTL'),
        retentionMs: opt.duration('retention', 'TASKQ_RETENTION'),
        rateLimit: opt.int('rateLimit', 'TASKQ_RATE_LIMIT'),
        maxQueueDepth: opt.int('maxQueueDepth', 'TASKQ_MAX_QUEUE_DEPTH'),
        tlsCert: opt.string('tlsCert', 'TASKQ_TLS_CERT'),
        tlsKey: opt.string('tlsKey', 'TASKQ_TLS_KEY'),
        listen:
          f.listen === false
            ? false
            : pick(listenEnv, file.coordinator?.listen as boolean | undefined),
        insecure: f.insecure ?? (env.TASKQ_INSECURE === 'true' ? true : undefined),
        publicMetrics: f.publicMetrics ?? (env.TASKQ_PUBLIC_METRICS === 'true' ? true : undefined),
        logger: log,
      });
      const stopTracing = await startTracing('coordinator');
      await runUntilSignalled(
        log,
        () => coordinator.start(),
        () => coordinator.stop().finally(stopTracing),
      );
    } catch (err) {
      fail(err);
    }
  });

  apiOptions(
    program
      .command('scheduler')
      .description('run a scheduler: the REST API (/schedule, /status, /v1) on its own port')
      .option('--config <file>', 'JSON config file (or TASKQ_CONFIG)')
      .option('--database-url <url>', 'PostgreSQL URL (or DATABASE_URL)')
      .option('--schema <name>', 'schema holding the tables (or TASKQ_SCHEMA)')
      .option('--host <address>', 'interface to bind (or TASKQ_HOST)')
      .option('--port <port>', 'REST port (or TASKQ_SCHEDULER_PORT)')
      .option('--no-cron', 'serve the API only; do not fire cron schedules here'),
  ).action(async (f: ServiceFlags) => {
    try {
      const file = loadConfigFile(f.config);
      const env = process.env;
      const opt = optionReader(f, file.scheduler ?? {}, 'scheduler');
      const log = createLogger();
      const { Scheduler } = await import('../scheduler/index.js');
      const scheduler = new Scheduler({
        databaseUrl: databaseUrl(f.databaseUrl, file) as string,
        schema: pick(f.schema, env.TASKQ_SCHEMA, file.schema),
        host: opt.string('host', 'TASKQ_HOST'),
        httpPort: opt.int('port', 'TASKQ_SCHEDULER_PORT'),
        cron: (f as { cron?: boolean }).cron,
        rateLimit: opt.int('rateLimit', 'TASKQ_RATE_LIMIT'),
        maxQueueDepth: opt.int('maxQueueDepth', 'TASKQ_MAX_QUEUE_DEPTH'),
        tlsCert: opt.string('tlsCert', 'TASKQ_TLS_CERT'),
        tlsKey: opt.string('tlsKey', 'TASKQ_TLS_KEY'),
        insecure: f.insecure ?? (env.TASKQ_INSECURE === 'true' ? true : undefined),
        publicMetrics: f.publicMetrics ?? (env.TASKQ_PUBLIC_METRICS === 'true' ? true : undefined),
        logger: log,
      });
      const stopTracing = await startTracing('scheduler');
      await runUntilSignalled(
        log,
        () => scheduler.start(),
        () => scheduler.stop().finally(stopTracing),
      );
    } catch (err) {
      fail(err);
    }
  });

  program
    .command('migrate')
    .description('apply database migrations and exit (every service also migrates at start-up)')
    .option('--config <file>', 'JSON config file (or TASKQ_CONFIG)')
    .option('--database-url <url>', 'PostgreSQL URL (or DATABASE_URL)')
    .option('--schema <name>', 'schema holding the tables (or TASKQ_SCHEMA)')
    .action(async (f: ServiceFlags) => {
      try {
        const file = loadConfigFile(f.config);
        const { createDb } = await import('../store/db.js');
        const { latestVersion, migrate } = await import('../store/migrate.js');
        const db = createDb({
          url: databaseUrl(f.databaseUrl, file) as string,
          schema: pick(f.schema, process.env.TASKQ_SCHEMA, file.schema),
        });
        try {
          const applied = await migrate(db);
          process.stdout.write(
            applied.length
              ? `applied migrations ${applied.join(', ')}; schema "${db.schema}" is at version ${latestVersion()}\n`
              : `schema "${db.schema}" is up to date (version ${latestVersion()})\n`,
          );
        } finally {
          await db.pool.end();
        }
      } catch (err) {
        fail(err);
      }
    });
}
