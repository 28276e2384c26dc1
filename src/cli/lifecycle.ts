import type { Logger } from 'pino';
import { monotonicMs } from '../lib/clock.js';
import { ConfigError, SchemaTooNewError, ValidationError, describeError } from '../lib/errors.js';

/**
 * Signals this close to the first are the same request: a terminal's Ctrl-C reaches the whole
 * process group, so npm's forwarded copy arrives within milliseconds of the terminal's own.
 */
const SAME_SIGNAL_MS = 1000;

/**
 * Runs a long-lived command: the first SIGINT/SIGTERM stops it gracefully (drain), a second
 * one (not the echo of the first) forces an exit, after `onForcedExit` releases what must not
 * outlive the process. Only the CLI installs signal handlers. With `stopWithParent`, it also
 * stops on SIGHUP and when its parent process goes away (a wrapper such as npm that was
 * killed without passing the signal on), so nothing it started is left running.
 */
export async function runUntilSignalled(
  log: Logger,
  start: () => Promise<void>,
  stop: () => Promise<void>,
  opts: { stopWithParent?: boolean; onForcedExit?: () => void } = {},
): Promise<void> {
  let firstAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    const now = monotonicMs();
    if (firstAt !== undefined) {
      if (now - firstAt < SAME_SIGNAL_MS) return;
      log.warn({ signal }, 'second signal: exiting now');
      try {
        opts.onForcedExit?.();
      } finally {
        process.exit(130);
      }
    }
    firstAt = now;
    log.info({ signal }, 'shutting down gracefully (send the signal again to force)');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: describeError(err) }, 'shutdown failed');
        opts.onForcedExit?.();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (opts.stopWithParent) {
    process.on('SIGHUP', onSignal);
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid === parent || firstAt !== undefined) return;
      clearInterval(watch);
      log.warn({ parent }, 'parent process went away; stopping');
      onSignal('SIGHUP');
    }, 1000);
    watch.unref();
  }
  try {
    await start();
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** Prints an error the way a user should see it, and exits with a status for scripts. */
export function fail(err: unknown): never {
  if (
    err instanceof ConfigError ||
    err instanceof ValidationError ||
    err instanceof SchemaTooNewError
  ) {
    process.stderr.write(`taskq: ${err.message}\n`);
    process.exit(2);
  }
  const code = (err as { code?: unknown }).code;
  if (code === 'EADDRINUSE') {
    const e = err as { port?: number; address?: string };
    process.stderr.write(
      `taskq: port ${e.port ?? '?'} on ${e.address ?? '?'} is already in use; stop what holds it or choose another port (see --help)\n`,
    );
    process.exit(2);
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '28P01' || code === '3D000') {
    process.stderr.write(
      `taskq: cannot reach PostgreSQL: ${describeError(err)}. Check DATABASE_URL.\n`,
    );
    process.exit(2);
  }
  process.stderr.write(
    `taskq: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
}

/**
 * Turns OpenTelemetry tracing on when OTEL_EXPORTER_OTLP_ENDPOINT is set (the SDK is only
 * loaded then). Returns the function that flushes it at shutdown.
 */
export async function startTracing(service: string): Promise<() => Promise<void>> {
  if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT && !process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    return () => Promise.resolve();
  }
  const { initTracing } = await import('../observability/tracing.js');
  return initTracing(service);
}
