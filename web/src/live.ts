/**
 * Server-Sent Events. One shared stream of /v1/events for the whole page (tables subscribe to
 * it), and one stream per open task or workflow page. Streams reopen after an error, resuming from the
 * last event id, and reopen with the new token after a login.
 */
import {
  checkReachable,
  eventsUrl,
  getConnection,
  reportReachable,
  subscribeConnection,
} from './api';
import type { ProgressEvent, StatusEvent, Task, Workflow } from './types';

type Handlers = Record<string, (data: unknown) => void>;

/** An EventSource that reopens itself. `resync` is called when events may have been missed. */
export class LiveStream {
  private source: EventSource | null = null;
  private retry: number | null = null;
  private lastId: string | undefined;
  private closed = false;
  private token = getConnection().token;
  private readonly unwatch: () => void;

  constructor(
    private readonly path: string,
    private readonly params: Record<string, string | undefined>,
    private readonly handlers: Handlers,
    private readonly resync: () => void,
    private readonly onState: (open: boolean) => void = () => undefined,
  ) {
    this.unwatch = subscribeConnection(() => {
      const { token } = getConnection();
      if (token !== this.token) {
        this.token = token;
        this.reopen(0);
      }
    });
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const es = new EventSource(
      eventsUrl(this.path, { ...this.params, last_event_id: this.lastId }),
    );
    this.source = es;
    es.onopen = () => {
      reportReachable();
      this.onState(true);
      // Events before the stream opened were missed: the page's first fetch may have raced
      // them, and a reopen surely did. Either way, load again.
      this.resync();
    };
    es.onerror = () => {
      this.onState(false);
      checkReachable();
      // CONNECTING: the browser retries by itself. CLOSED (an HTTP error such as 401): we do.
      if (es.readyState === EventSource.CLOSED) this.reopen(3000);
    };
    for (const [name, fn] of Object.entries(this.handlers)) {
      es.addEventListener(name, (ev: MessageEvent<string>) => {
        if (ev.lastEventId) this.lastId = ev.lastEventId;
        try {
          fn(JSON.parse(ev.data));
        } catch {
          // a malformed event: ignore it, the next one or a resync repairs the view
        }
      });
    }
  }

  private reopen(delayMs: number): void {
    this.source?.close();
    this.source = null;
    if (this.retry !== null) window.clearTimeout(this.retry);
    this.retry = window.setTimeout(() => {
      this.retry = null;
      this.open();
    }, delayMs);
  }

  close(): void {
    this.closed = true;
    this.unwatch();
    if (this.retry !== null) window.clearTimeout(this.retry);
    this.source?.close();
    this.onState(false);
  }
}

/** What subscribers of the shared stream receive. */
export type LiveEvent =
  | { type: 'status'; data: StatusEvent }
  | { type: 'progress'; data: ProgressEvent }
  | { type: 'resync' };

const listeners = new Set<(e: LiveEvent) => void>();
let shared: LiveStream | null = null;
let sharedOpen = false;
const openWatchers = new Set<() => void>();

function emit(e: LiveEvent): void {
  for (const l of listeners) l(e);
}

/** Subscribes to /v1/events; the stream is open while anyone listens. */
export function subscribeLive(fn: (e: LiveEvent) => void): () => void {
  listeners.add(fn);
  shared ??= new LiveStream(
    '/v1/events',
    {},
    {
      status: (d) => emit({ type: 'status', data: d as StatusEvent }),
      progress: (d) => emit({ type: 'progress', data: d as ProgressEvent }),
      gap: () => emit({ type: 'resync' }),
    },
    () => emit({ type: 'resync' }),
    (open) => {
      sharedOpen = open;
      for (const w of openWatchers) w();
    },
  );
  return () => {
    listeners.delete(fn);
    if (listeners.size === 0 && shared) {
      shared.close();
      shared = null;
    }
  };
}

/** Whether the shared stream is connected, for the header's "live" dot. */
export function subscribeLiveState(fn: () => void): () => void {
  openWatchers.add(fn);
  return () => openWatchers.delete(fn);
}

export function isLiveOpen(): boolean {
  return sharedOpen;
}

/** One page's own stream, open until the returned function is called. */
function pageStream(
  path: string,
  handlers: Handlers,
  resync: () => void,
  onState: (open: boolean) => void,
): () => void {
  const s = new LiveStream(path, {}, handlers, resync, onState);
  return () => s.close();
}

/** Streams one task: `task` events carry the whole task, `progress` its handler's progress. */
export function watchTask(
  id: string,
  onTask: (t: Task) => void,
  onProgress: (p: ProgressEvent) => void,
  resync: () => void,
  onState: (open: boolean) => void,
): () => void {
  return pageStream(
    `/v1/tasks/${encodeURIComponent(id)}/events`,
    { task: (d) => onTask(d as Task), progress: (d) => onProgress(d as ProgressEvent) },
    resync,
    onState,
  );
}

/**
 * Streams one workflow: every `workflow` event carries the whole graph. The server ends the
 * stream once the workflow has ended; close it then, or the browser would reopen it for ever.
 */
export function watchWorkflow(
  id: string,
  onWorkflow: (w: Workflow) => void,
  resync: () => void,
  onState: (open: boolean) => void,
): () => void {
  return pageStream(
    `/v1/workflows/${encodeURIComponent(id)}/events`,
    { workflow: (d) => onWorkflow(d as Workflow) },
    resync,
    onState,
  );
}
