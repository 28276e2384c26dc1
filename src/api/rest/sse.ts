import type { FastifyReply, FastifyRequest } from 'fastify';

/** How often an idle stream sends a comment, so proxies and clients keep it open. */
const KEEPALIVE_MS = 15_000;

/** An open Server-Sent Events response. */
export interface SseStream {
  /** Sends one event. `id` becomes the client's Last-Event-ID. */
  send(event: string, data: unknown, id?: number | string): void;
  /** Resolves when the client goes away. */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  close(): void;
}

/** The Last-Event-ID the client resumes from (header, or `last_event_id` for clients that cannot set headers). */
export function lastEventId(req: FastifyRequest): number | null {
  const raw =
    req.headers['last-event-id'] ??
    (req.query as { last_event_id?: string } | undefined)?.last_event_id;
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  return raw !== undefined && Number.isFinite(n) && n > 0 ? n : null;
}

/** Takes over the response and opens an SSE stream on it. */
export function openSse(req: FastifyRequest, reply: FastifyReply): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  let isClosed = false;
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  keepalive.unref();
  const finish = (): void => {
    if (isClosed) return;
    isClosed = true;
    clearInterval(keepalive);
    resolveClosed();
  };
  req.raw.on('close', finish);
  res.on('close', finish);
  // A client that left before this point fired its 'close' already.
  if (req.raw.destroyed || res.destroyed) finish();
  return {
    send(event, data, id) {
      if (isClosed) return;
      res.write(
        `event: ${event}\n${id !== undefined ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`,
      );
    },
    closed,
    get isClosed() {
      return isClosed;
    },
    close() {
      finish();
      res.end();
    },
  };
}
