import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError } from '../lib/errors.js';

/**
 * Typed options for every component. Precedence, applied in `cli/`: flag > environment >
 * config file > default. This module only validates and fills in defaults.
 */

const port = (byDefault: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: byDefault });
const ms = (byDefault: number) =>
  Type.Integer({ minimum: 1, maximum: 86_400_000, default: byDefault });

/** Where the database is. */
export const DatabaseOptionsSchema = Type.Object({
  /** PostgreSQL connection string. */
  databaseUrl: Type.String({ minLength: 1 }),
  /** Schema that holds every table. @default 'taskq' */
  schema: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,39}$', default: 'taskq' }),
});

/** Options of the REST API that both services serve. */
function apiOptions() {
  return {
    /** Requests per second per token (or address); a token's own limit wins. @default unlimited */
    rateLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    /** Submits to a queue holding this many due tasks get 429. @default unlimited */
    maxQueueDepth: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
    /** PEM certificate file: serve HTTPS (and gRPC over TLS on the coordinator). */
    tlsCert: Type.Optional(Type.String({ minLength: 1 })),
    /** PEM private key file for tlsCert. */
    tlsKey: Type.Optional(Type.String({ minLength: 1 })),
    /**
     * Serve /metrics without a token even when tokens exist (a scraper on a trusted network).
     * Otherwise scraping needs a token whose role may read (read, submit or admin).
     * @default false
     */
    publicMetrics: Type.Boolean({ default: false }),
  };
}

/** Options for a coordinator process. */
export const CoordinatorOptionsSchema = Type.Object({
  ...DatabaseOptionsSchema.properties,
  /** Interface to bind. Anything but loopback needs `insecure` until tokens exist. @default '127.0.0.1' */
  host: Type.String({ minLength: 1, default: '127.0.0.1' }),
  /** gRPC port for workers and clients. @default 50051 */
  grpcPort: port(50051),
  /** REST port. @default 8080 */
  httpPort: port(8080),
  /** A worker that misses heartbeats this long loses its tasks. @default 5000 */
  leaseMs: ms(5000),
  /** How often workers send heartbeats. @default 1000 */
  heartbeatMs: ms(1000),
  /** Fallback poll for due tasks when no NOTIFY arrives. @default 1000 */
  pollMs: ms(1000),
  /** How often the reaper looks for expired leases. @default 1000 */
  reapIntervalMs: ms(1000),
  /** A leader that stops renewing loses the role after this. @default 5000 */
  leaderTtlMs: ms(5000),
  /** How often the leader renews (and others try to take over). @default 1000 */
  leaderRenewMs: ms(1000),
  /** Finished tasks (and their attempts) are deleted this long after they finished; 0 keeps them. @default 7 days */
  retentionMs: Type.Integer({ minimum: 0, maximum: 3650 * 86_400_000, default: 7 * 86_400_000 }),
  /** How often the leader deletes expired finished tasks. @default 60000 */
  retentionIntervalMs: ms(60_000),
  /** LISTEN for wake-ups. Off behind PgBouncer in transaction mode; polling still works. @default true */
  listen: Type.Boolean({ default: true }),
  /** Bind a non-loopback address without authentication. @default false */
  insecure: Type.Boolean({ default: false }),
  /** Maximum request body in bytes. @default 1048576 */
  bodyLimit: Type.Integer({ minimum: 1024, maximum: 64 * 1048576, default: 1048576 }),
  /** Database pool size. @default 10 */
  poolSize: Type.Integer({ minimum: 2, maximum: 200, default: 10 }),
  ...apiOptions(),
});

/** Options for a scheduler (REST API) process. */
export const SchedulerOptionsSchema = Type.Object({
  ...DatabaseOptionsSchema.properties,
  host: Type.String({ minLength: 1, default: '127.0.0.1' }),
  /** REST port. @default 8081 */
  httpPort: port(8081),
  /** Run the cron ticker here. Any number of schedulers may; each tick still fires once. @default true */
  cron: Type.Boolean({ default: true }),
  insecure: Type.Boolean({ default: false }),
  bodyLimit: Type.Integer({ minimum: 1024, maximum: 64 * 1048576, default: 1048576 }),
  poolSize: Type.Integer({ minimum: 2, maximum: 200, default: 10 }),
  ...apiOptions(),
});

export type CoordinatorOptions = Partial<Static<typeof CoordinatorOptionsSchema>> &
  Pick<Static<typeof CoordinatorOptionsSchema>, 'databaseUrl'>;
export type ResolvedCoordinatorOptions = Static<typeof CoordinatorOptionsSchema>;
export type SchedulerOptions = Partial<Static<typeof SchedulerOptionsSchema>> &
  Pick<Static<typeof SchedulerOptionsSchema>, 'databaseUrl'>;
export type ResolvedSchedulerOptions = Static<typeof SchedulerOptionsSchema>;

/**
 * Fills in defaults and checks every field.
 * @throws ConfigError naming the first bad field and what it must be.
 */
export function resolveOptions<S extends TSchema>(
  schema: S,
  input: object,
  what: string,
): Static<S> {
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const value = Value.Default(schema, defined) as Static<S>;
  const first = Value.Errors(schema, value).First();
  if (first) {
    const field = first.path.replace(/^\//, '').replace(/\//g, '.') || '(root)';
    throw new ConfigError(`invalid ${what} option ${field}: ${first.message}`);
  }
  return value;
}

/** Coordinator options with defaults, checked. */
export function resolveCoordinatorOptions(input: CoordinatorOptions): ResolvedCoordinatorOptions {
  const o = resolveOptions(CoordinatorOptionsSchema, input, 'coordinator');
  if (o.heartbeatMs * 2 > o.leaseMs) {
    throw new ConfigError(
      `invalid coordinator options: leaseMs (${o.leaseMs}) must be at least twice heartbeatMs (${o.heartbeatMs}), or one late heartbeat would lose every lease`,
    );
  }
  if (o.leaderRenewMs * 2 > o.leaderTtlMs) {
    throw new ConfigError(
      `invalid coordinator options: leaderTtlMs (${o.leaderTtlMs}) must be at least twice leaderRenewMs (${o.leaderRenewMs})`,
    );
  }
  checkTls(o);
  return o;
}

/** Scheduler options with defaults, checked. */
export function resolveSchedulerOptions(input: SchedulerOptions): ResolvedSchedulerOptions {
  const o = resolveOptions(SchedulerOptionsSchema, input, 'scheduler');
  checkTls(o);
  return o;
}

/**
 * True for addresses only this machine can reach: the name `localhost`, an IPv4 literal in
 * 127.0.0.0/8, `::1`, or an IPv4-mapped `::ffff:127.x.y.z`. Parsed, never matched as a
 * prefix: `127.evil.example` and `127.0.0.1.nip.io` are names that resolve anywhere.
 * IPv6 brackets are allowed (`[::1]`).
 */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIPv4(h)) return h.split('.')[0] === '127';
  if (isIPv6(h)) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)?.[1];
    if (mapped) return isIPv4(mapped) && mapped.split('.')[0] === '127';
    return h === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(h) || h === '0:0:0:0:0:0:0:1';
  }
  return false;
}

/**
 * Reads the PEM certificate and key named by the options, for HTTPS and gRPC over TLS; none
 * when TLS is off.
 * @throws ConfigError naming the file that cannot be read.
 */
export function loadTls(o: {
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
}): { cert: string; key: string } | undefined {
  if (!o.tlsCert || !o.tlsKey) return undefined;
  const read = (file: string, flag: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`${flag}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  return { cert: read(o.tlsCert, '--tls-cert'), key: read(o.tlsKey, '--tls-key') };
}

function checkTls(o: { tlsCert?: string | undefined; tlsKey?: string | undefined }): void {
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) {
    throw new ConfigError('TLS needs both --tls-cert and --tls-key');
  }
}

/**
 * Refuses to serve an unauthenticated API beyond this machine: binding a non-loopback
 * address needs at least one API token, or an explicit --insecure.
 * @throws ConfigError saying what to do.
 */
export function checkBinding(host: string, insecure: boolean, tokensExist: boolean): void {
  if (!isLoopback(host) && !insecure && !tokensExist) {
    throw new ConfigError(
      `refusing to bind ${host} without authentication: anyone who can reach it could submit tasks. ` +
        'Create a token first (taskq token create --name admin --role admin), bind 127.0.0.1, ' +
        'or pass --insecure if a trusted network or proxy guards it.',
    );
  }
}

/**
 * The database URL from the environment: `DATABASE_URL`, or the seed's
 * `POSTGRES_HOST` / `POSTGRES_PORT` / `POSTGRES_USER` / `POSTGRES_PASSWORD` / `POSTGRES_DB`.
 */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  if (!env.POSTGRES_HOST) return undefined;
  const user = encodeURIComponent(env.POSTGRES_USER ?? 'postgres');
  const password = env.POSTGRES_PASSWORD ? `:${encodeURIComponent(env.POSTGRES_PASSWORD)}` : '';
  const port = env.POSTGRES_PORT ?? '5432';
  const db = encodeURIComponent(env.POSTGRES_DB ?? 'postgres');
  return `postgres://${user}${password}@${env.POSTGRES_HOST}:${port}/${db}`;
}
