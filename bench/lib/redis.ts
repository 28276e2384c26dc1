import { connect } from 'node:net';

/** The Redis BullMQ's Redis backend uses: BENCH_REDIS_URL, else the local default. */
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * True when a Redis server answers PING at `url` within `timeoutMs`. Speaks the protocol
 * directly, so it needs no client library.
 */
export async function redisReachable(url = REDIS_URL, timeoutMs = 1000): Promise<boolean> {
  return (await ask(url, 'PING', timeoutMs))?.startsWith('+PONG') ?? false;
}

/** The server's `redis_version`, or null when it does not answer. */
export async function redisVersion(url = REDIS_URL, timeoutMs = 1000): Promise<string | null> {
  const reply = await ask(url, 'INFO server', timeoutMs);
  return reply ? (/redis_version:([^\r\n]+)/.exec(reply)?.[1] ?? null) : null;
}

/** The Redis server's process id, or null when it does not answer. */
export async function redisPid(url = REDIS_URL, timeoutMs = 1000): Promise<number | null> {
  const reply = await ask(url, 'INFO server', timeoutMs);
  const pid = reply ? /process_id:(\d+)/.exec(reply)?.[1] : undefined;
  return pid === undefined ? null : Number(pid);
}

/**
 * Sends one inline command and resolves with the reply's text once it looks complete (a
 * simple reply's line, or a bulk reply's announced length), or null on error or timeout.
 */
function ask(url: string, command: string, timeoutMs: number): Promise<string | null> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname, port: Number(u.port || 6379) });
    let reply = '';
    const done = (text: string | null): void => {
      socket.destroy();
      resolve(text);
    };
    socket.setTimeout(timeoutMs, () => done(null));
    socket.on('error', () => done(null));
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (c: Buffer) => {
      reply += c.toString('utf8');
      const head = reply.indexOf('\r\n');
      if (head < 0) return;
      if (!reply.startsWith('$')) done(reply);
      else if (Buffer.byteLength(reply) >= head + 4 + Number(reply.slice(1, head))) done(reply);
    });
  });
}
