import { ApiError, ConnectionError, WaitTimeoutError } from './errors.js';
import { sleep, type Transport } from './http.js';
import { readSse, type SseMessage } from './sse.js';
import { isTerminal, type Task, type TaskProgress, type WatchEvent } from './types.js';
import type { Workflow } from './workflow-types.js';

/** Options for {@link TaskQueueClient.watch} and {@link TaskQueueClient.watchWorkflow}. */
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

/** What a stream's reader makes of one message; undefined for a message it ignores. */
interface Step<E, R> {
  /** Yielded to the caller. */
  event: E;
  /** Set on the last message: the watch returns it after yielding `event`. */
  end?: R;
  /** Resume from this message's id after a reconnect (Last-Event-ID). */
  resumable?: boolean;
}

/**
 * Follows one event stream, reconnecting (with Last-Event-ID, when the stream gives ids)
 * when it drops or goes silent, until `read` marks a message as the last.
 */
async function* follow<E, R>(
  transport: Transport,
  path: string,
  opts: WatchOptions,
  read: (m: SseMessage) => Step<E, R> | undefined,
): AsyncGenerator<E, R> {
  const maxReconnects = opts.maxReconnects ?? 10;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 45_000;
  let resumeId: string | undefined;
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
          ...(resumeId ? { 'last-event-id': resumeId } : {}),
        },
        signal,
        stream: true,
      });
      if (!res.body) throw new ConnectionError(transport.options.baseUrl, 'empty event stream');
      connected = true;
      touch();
      const messages = readSse(res.body, {
        onActivity: touch,
        onRetry: (ms) => (retryMs = ms),
      });
      for await (const m of messages) {
        const step = read(m);
        if (!step) continue;
        if (step.resumable && m.id) resumeId = m.id;
        failures = 0;
        yield step.event;
        if (step.end !== undefined) return step.end;
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

/**
 * Follows one task over `GET /v1/tasks/:id/events` until it is terminal, reconnecting with
 * Last-Event-ID when the stream drops. The first event is always the task's current state.
 */
export function watchTask(
  transport: Transport,
  id: string,
  opts: WatchOptions = {},
): AsyncGenerator<WatchEvent, Task> {
  return follow<WatchEvent, Task>(
    transport,
    `/v1/tasks/${encodeURIComponent(id)}/events`,
    opts,
    (m) => {
      if (m.event === 'task') {
        const task = JSON.parse(m.data) as Task;
        // Resume from the last *task* event, not the last progress event: progress ids come
        // from a different clock reading than updated_at, and resuming past a status change
        // would lose it.
        return { event: { type: 'task', task }, resumable: true, end: endedTask(task) };
      }
      if (m.event === 'progress')
        return { event: { type: 'progress', ...(JSON.parse(m.data) as TaskProgress) } };
      return undefined;
    },
  );
}

const endedTask = (task: Task): Task | undefined => (isTerminal(task.status) ? task : undefined);

/**
 * Follows one task with {@link watchTask} until it is terminal, and resolves with it.
 * @throws WaitTimeoutError after `timeoutMs` (@default 60000; `Infinity` for none)
 */
export async function waitForTask(
  transport: Transport,
  id: string,
  opts: { timeoutMs?: number; signal?: AbortSignal },
): Promise<Task> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const timeout = Number.isFinite(timeoutMs) ? AbortSignal.timeout(timeoutMs) : undefined;
  const signals = [opts.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
  let last: Task | undefined;
  try {
    for await (const e of watchTask(transport, id, signal ? { signal } : {})) {
      if (e.type === 'task') last = e.task;
    }
  } catch (err) {
    if (timeout?.aborted && !opts.signal?.aborted)
      throw new WaitTimeoutError(id, last?.status, timeoutMs);
    throw err;
  }
  if (!last || !isTerminal(last.status)) throw new Error(`watch of task ${id} ended early`);
  return last;
}

/**
 * Follows one workflow over `GET /v1/workflows/:id/events`: every event is the whole graph,
 * the first its state on open. Ends with the workflow once it is no longer `running`. Events
 * carry no ids: after a reconnect the first event is the whole graph again, so nothing is lost.
 */
export function watchWorkflowGraph(
  transport: Transport,
  id: string,
  opts: WatchOptions = {},
): AsyncGenerator<Workflow, Workflow> {
  return follow<Workflow, Workflow>(
    transport,
    `/v1/workflows/${encodeURIComponent(id)}/events`,
    opts,
    (m) => {
      if (m.event !== 'workflow') return undefined;
      const workflow = JSON.parse(m.data) as Workflow;
      return { event: workflow, end: workflow.status === 'running' ? undefined : workflow };
    },
  );
}
