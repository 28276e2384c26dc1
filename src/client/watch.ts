import { ApiError, ConnectionError } from './errors.js';
import { sleep, type Transport } from './http.js';
import { readSse } from './sse.js';
import { isTerminal, type Task, type TaskProgress, type WatchEvent } from './types.js';

/** Options for {@link TaskQueueClient.watch}. */
export interface WatchOptions {
  /** Stops the watch: the iterator then throws the signal's reason. */
  signal?: AbortSignal;
  /**
   * Reconnects in a row that may fail (refused, dropped before any event, 503) before the
   * watch gives up. A connection that delivers an event resets the count. The first
   * connection is not retried beyond the client's usual 503/429 retries: a server that never
   * answered is reported at once.
   * @default 10
   */
  maxReconnects?: number;
  /**
   * A stream silent for this long (the server sends a keep-alive every 15 s) is taken for
   * dead and reopened.
   * @default 45000
   */
  idleTimeoutMs?: number;
}

/** Longest wait between reconnects. */
const MAX_RECONNECT_DELAY_MS = 5_000;

/**
 * Follows one task over `GET /v1/tasks/:id/events` until it is terminal, reconnecting with
 * Last-Event-ID when the stream drops. The first event is always the task's current state.
 */
export async function* watchTask(
  transport: Transport,
  id: string,
  opts: WatchOptions = {},
): AsyncGenerator<WatchEvent, Task> {
  const maxReconnects = opts.maxReconnects ?? 10;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 45_000;
  const path = `/v1/tasks/${encodeURIComponent(id)}/events`;
  // Resume from the last *task* event, not the last progress event: progress ids come from a
  // different clock reading than updated_at, and resuming past a status change would lose it.
  let lastTaskEventId: string | undefined;
  let retryMs = 1_000;
  let failures = 0;
  let connected = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    const conn = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, conn.signal]) : conn.signal;
    let idle: NodeJS.Timeout | undefined;
    const touch = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => conn.abort(new Error('stream idle')), idleTimeoutMs);
    };
    let lastError: unknown;
    try {
      const res = await transport.send({
        method: 'GET',
        path,
        headers: {
          accept: 'text/event-stream',
          ...(lastTaskEventId ? { 'last-event-id': lastTaskEventId } : {}),
        },
        signal,
        stream: true,
      });
      if (!res.body) throw new ConnectionError(transport.options.baseUrl, 'empty event stream');
      connected = true;
      touch();
      const messages = readSse(res.body as unknown as AsyncIterable<Uint8Array>, {
        onActivity: touch,
        onRetry: (ms) => (retryMs = ms),
      });
      for await (const m of messages) {
        if (m.event === 'task') {
          const task = JSON.parse(m.data) as Task;
          if (m.id) lastTaskEventId = m.id;
          failures = 0;
          yield { type: 'task', task };
          if (isTerminal(task.status)) return task;
        } else if (m.event === 'progress') {
          failures = 0;
          yield { type: 'progress', ...(JSON.parse(m.data) as TaskProgress) };
        }
      }
      lastError = new ConnectionError(transport.options.baseUrl, 'the event stream ended');
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (err instanceof ApiError && err.status !== 503 && err.status !== 429) throw err;
      if (err instanceof SyntaxError) throw err;
      // A server that never answered is reported at once; reconnecting is for streams that dropped.
      if (!connected) throw err;
      lastError = err;
    } finally {
      clearTimeout(idle);
      conn.abort();
    }
    failures++;
    if (failures > maxReconnects) throw lastError;
    const backoff = Math.min(retryMs * 2 ** (failures - 1), MAX_RECONNECT_DELAY_MS);
    await sleep(
      failures === 1 ? Math.min(backoff, 250) : backoff * (0.5 + Math.random() / 2),
      opts.signal,
    );
  }
}
