import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/**
 * The process logger: JSON lines for production, or pretty and coloured for `taskq dev`
 * and terminals when TASKQ_LOG_FORMAT=pretty. Level from TASKQ_LOG_LEVEL (default info).
 */
export function createLogger(opts: { pretty?: boolean } = {}): Logger {
  const level = process.env.TASKQ_LOG_LEVEL ?? 'info';
  const wantPretty = opts.pretty ?? process.env.TASKQ_LOG_FORMAT === 'pretty';
  if (!wantPretty) return pino({ level, base: { pid: process.pid } });
  return pino(
    { level },
    pretty({
      colorize: process.stdout.isTTY,
      ignore: 'pid,hostname',
      translateTime: 'HH:MM:ss.l',
      sync: true,
    }),
  );
}
