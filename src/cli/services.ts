import type { Command } from 'commander';
import { Coordinator } from '../coordinator/index.js';
import { Scheduler } from '../scheduler/index.js';
import { createDb } from '../store/db.js';
import { latestVersion, migrate } from '../store/migrate.js';
import { createLogger } from './logger.js';
import { fail, runUntilSignalled } from './lifecycle.js';
import { databaseUrl, duration, int, loadConfigFile, pick } from './options.js';

interface ServiceFlags {
  config?: string;
  databaseUrl?: string;
  schema?: string;
  host?: string;
  insecure?: boolean;
}

/** `taskq coordinator`, `taskq scheduler` and `taskq migrate`. */
export function registerServiceCommands(program: Command): void {
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
    .option('--no-listen', 'do not LISTEN for wake-ups (PgBouncer in transaction mode); poll only')
    .option('--insecure', 'allow binding a non-loopback address without authentication')
    .action(
      async (
        f: ServiceFlags & {
          grpcPort?: string;
          httpPort?: string;
          lease?: string;
          heartbeat?: string;
          poll?: string;
          listen: boolean;
        },
      ) => {
        try {
          const file = loadConfigFile(f.config);
          const fc = file.coordinator ?? {};
          const env = process.env;
          const log = createLogger();
          const coordinator = new Coordinator({
            databaseUrl: databaseUrl(f.databaseUrl, file) as string,
            schema: pick(f.schema, env.TASKQ_SCHEMA, file.schema),
            host: pick(f.host, env.TASKQ_HOST, fc.host as string | undefined),
            grpcPort: pick(
              int(f.grpcPort, '--grpc-port'),
              int(env.TASKQ_GRPC_PORT, 'TASKQ_GRPC_PORT'),
              fc.grpcPort as number | undefined,
            ),
            httpPort: pick(
              int(f.httpPort, '--http-port'),
              int(env.TASKQ_HTTP_PORT, 'TASKQ_HTTP_PORT'),
              fc.httpPort as number | undefined,
            ),
            leaseMs: pick(
              duration(f.lease, '--lease'),
              duration(env.TASKQ_LEASE, 'TASKQ_LEASE'),
              duration(fc.lease as string | undefined, 'coordinator.lease'),
            ),
            heartbeatMs: pick(
              duration(f.heartbeat, '--heartbeat'),
              duration(env.TASKQ_HEARTBEAT, 'TASKQ_HEARTBEAT'),
              duration(fc.heartbeat as string | undefined, 'coordinator.heartbeat'),
            ),
            pollMs: pick(
              duration(f.poll, '--poll'),
              duration(env.TASKQ_POLL, 'TASKQ_POLL'),
              duration(fc.poll as string | undefined, 'coordinator.poll'),
            ),
            listen:
              f.listen === false
                ? false
                : pick(
                    env.TASKQ_LISTEN === undefined ? undefined : env.TASKQ_LISTEN !== 'false',
                    fc.listen as boolean | undefined,
                  ),
            insecure: f.insecure ?? (env.TASKQ_INSECURE === 'true' ? true : undefined),
            logger: log,
          });
          await runUntilSignalled(
            log,
            () => coordinator.start(),
            () => coordinator.stop(),
          );
        } catch (err) {
          fail(err);
        }
      },
    );

  program
    .command('scheduler')
    .description('run a scheduler: the REST API (/schedule, /status, /v1) on its own port')
    .option('--config <file>', 'JSON config file (or TASKQ_CONFIG)')
    .option('--database-url <url>', 'PostgreSQL URL (or DATABASE_URL)')
    .option('--schema <name>', 'schema holding the tables (or TASKQ_SCHEMA)')
    .option('--host <address>', 'interface to bind (or TASKQ_HOST)')
    .option('--port <port>', 'REST port (or TASKQ_SCHEDULER_PORT)')
    .option('--insecure', 'allow binding a non-loopback address without authentication')
    .action(async (f: ServiceFlags & { port?: string }) => {
      try {
        const file = loadConfigFile(f.config);
        const fs = file.scheduler ?? {};
        const env = process.env;
        const log = createLogger();
        const scheduler = new Scheduler({
          databaseUrl: databaseUrl(f.databaseUrl, file) as string,
          schema: pick(f.schema, env.TASKQ_SCHEMA, file.schema),
          host: pick(f.host, env.TASKQ_HOST, fs.host as string | undefined),
          httpPort: pick(
            int(f.port, '--port'),
            int(env.TASKQ_SCHEDULER_PORT, 'TASKQ_SCHEDULER_PORT'),
            fs.port as number | undefined,
          ),
          insecure: f.insecure ?? (env.TASKQ_INSECURE === 'true' ? true : undefined),
          logger: log,
        });
        await runUntilSignalled(
          log,
          () => scheduler.start(),
          () => scheduler.stop(),
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
