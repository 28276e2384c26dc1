import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Authenticator } from '../auth/authenticator.js';
import type { WorkflowsApi } from '../services/workflows.js';
import { registerWorkflowEvents } from './routes-workflows.js';
import type { TaskEvent } from '../../store/events.js';
import type { EventHub } from '../services/event-hub.js';
import { ErrorJson, LIMITS, QUEUE_PATTERN, TaskIdParams } from '../schemas/tasks.js';
import { taskToJson } from './serialize.js';
import { lastEventId, openSse, type SseStream } from './sse.js';
import { checkTaskId } from '../services/submit.js';
import { guardDb } from '../services/guard.js';
import type { TasksApi } from '../services/tasks.js';

/** Most changes replayed to a resuming /v1/events stream; beyond that it gets a `gap` event. */
const REPLAY_LIMIT = 1000;
/** Most events held for a /v1/events stream that is not live yet; beyond that, a `gap`. */
const EARLY_LIMIT = 10_000;

const EventsQuery = Type.Object(
  {
    queue: Type.Optional(Type.String({ maxLength: LIMITS.queueLength, pattern: QUEUE_PATTERN })),
    last_event_id: Type.Optional(
      Type.String({
        maxLength: 20,
        pattern: '^[0-9]+$',
        description:
          'For clients that cannot send the Last-Event-ID header: an event id (epoch ms).',
      }),
    ),
    access_token: Type.Optional(
      Type.String({
        maxLength: 200,
        description: 'For EventSource, which cannot send an Authorization header.',
      }),
    ),
  },
  { additionalProperties: false },
);

function statusEvent(e: {
  taskId: string;
  queue: string;
  kind: string;
  attempt: number;
  at: number;
}) {
  return {
    task_id: e.taskId,
    queue: e.queue,
    status: e.kind,
    attempt: e.attempt,
    at: new Date(e.at).toISOString(),
  };
}

function progressEvent(e: TaskEvent) {
  return {
    task_id: e.taskId,
    attempt: e.attempt,
    percent: e.percent ?? 0,
    message: e.message ?? '',
  };
}

/**
 * Live task status over Server-Sent Events, fed by LISTEN/NOTIFY:
 * - `/v1/tasks/:id/events`: `task` events (the whole task, on every change) and `progress`;
 * - `/v1/events?queue=`: `status` events for every task (of a queue), and `progress`.
 * Event ids are the change time in epoch ms. A client that reconnects with Last-Event-ID
 * gets the current state of what changed since: intermediate states it missed are folded
 * into the latest one.
 */
export function registerEventRoutes(
  app: FastifyInstance,
  api: TasksApi,
  workflows: WorkflowsApi,
  hub: EventHub,
  auth: Authenticator,
): void {
  // Streams never end on their own: close them first when the server shuts down, and close
  // at once any that opens afterwards (its request was waiting for the hub).
  const open = new Set<SseStream>();
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    for (const s of open) s.close();
    done();
  });
  // A stream opened with a token ends within two seconds of its revocation or expiry.
  const track = (req: FastifyRequest, s: SseStream): SseStream => {
    if (closing) {
      s.close();
      return s;
    }
    open.add(s);
    const unwatch = req.principal ? auth.watch(req.principal, () => s.close()) : () => undefined;
    void s.closed.then(() => {
      open.delete(s);
      unwatch();
    });
    return s;
  };

  registerWorkflowEvents(app, workflows, hub, (req, reply) => track(req, openSse(req, reply)));

  app.get<{ Params: { id: string }; Querystring: { last_event_id?: string } }>(
    '/v1/tasks/:id/events',
    {
      schema: {
        tags: ['events'],
        summary: "A task's live status (SSE)",
        description:
          'text/event-stream. `task` events carry the whole task on every change; `progress` events carry {task_id, attempt, percent, message}. Supports Last-Event-ID.',
        params: TaskIdParams,
        querystring: Type.Object({
          last_event_id: Type.Optional(Type.String({ maxLength: 20, pattern: '^[0-9]+$' })),
          access_token: Type.Optional(Type.String({ maxLength: 200 })),
        }),
        response: { 400: ErrorJson, 404: ErrorJson, 503: ErrorJson },
      },
    },
    async (req, reply) => {
      const id = checkTaskId(req.params.id);
      await api.get(id, { detail: false }); // 404 before the stream opens
      // Subscribed first, opened once events are surely on; then the task is read. The first
      // event is always the task: progress heard before that read is held, and sent after it
      // (that of earlier attempts dropped). So is progress heard while a later read is on its
      // way, so that a task's running event always comes before the progress of its run.
      // Event ids are the task's updated_at, and a progress event carries the id of the task
      // event before it: the progress time comes from another statement's clock, and can be
      // later than the updated_at of a completion that commits after it, so as an id it would
      // make ids go back, and a client resuming from it would never hear of that completion.
      let stream: SseStream | null = null;
      let read = false;
      const early: TaskEvent[] = [];
      let lastSent = lastEventId(req) ?? 0;
      let dirty = true;
      let running: Promise<void> | null = null;
      const refresh = (): void => {
        if (!stream) return;
        const s = stream;
        dirty = true;
        running ??= (async () => {
          while (dirty && !s.isClosed) {
            dirty = false;
            try {
              const d = await api.get(id);
              const at = d.task.updatedAt.getTime();
              if (at > lastSent) {
                lastSent = at;
                s.send('task', taskToJson(d.task, d), at);
              }
              read = true;
              for (const e of early.splice(0))
                if (e.attempt >= d.task.attempt) s.send('progress', progressEvent(e), lastSent);
            } catch {
              // The database is away: the next event or reconnect refreshes.
            }
          }
        })().finally(() => (running = null));
      };
      const unsubscribe = hub.subscribe(
        { taskId: id },
        (e) => {
          if (e.kind !== 'progress') refresh();
          else if (stream && read && !running) stream.send('progress', progressEvent(e), lastSent);
          else if (early.length < EARLY_LIMIT) early.push(e);
        },
        refresh,
      );
      try {
        await hub.ready();
        const opened = track(req, openSse(req, reply));
        stream = opened;
        refresh();
        await opened.closed;
      } finally {
        unsubscribe();
      }
    },
  );

  app.get<{ Querystring: { queue?: string; last_event_id?: string } }>(
    '/v1/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Live status of every task, or of one queue (SSE)',
        description:
          'text/event-stream of `status` events {task_id, queue, status, attempt, at} and `progress` events. With Last-Event-ID, the tasks changed since are replayed first (at most 1000; a `gap` event says when more were missed).',
        querystring: EventsQuery,
        response: { 400: ErrorJson, 503: ErrorJson },
      },
    },
    async (req, reply) => {
      const queue = req.query.queue;
      const since = lastEventId(req);
      // Progress goes without an id, so the client's last event id stays the last change's:
      // a progress time, from another clock, could pass a change that commits after it.
      const send = (s: SseStream, e: TaskEvent): void =>
        e.kind === 'progress'
          ? s.send('progress', progressEvent(e))
          : s.send('status', statusEvent(e), e.at);
      // Subscribed first, opened once events are surely on (a client that acts as soon as
      // the stream opens hears about it). Events heard before the stream is live (while
      // waiting, and during a replay) are held and sent after the replay, in order, up to
      // EARLY_LIMIT; past that the client gets a `gap`, as whenever events may have been
      // missed, and should re-read.
      let stream: SseStream | null = null;
      let live = false;
      const early: TaskEvent[] = [];
      let overflow = false;
      const unsubscribe = hub.subscribe(
        queue ? { queue } : {},
        (e) => {
          if (live && stream) send(stream, e);
          else if (early.length < EARLY_LIMIT) early.push(e);
          else overflow = true;
        },
        () => stream?.send('gap', { missed: true, replayed: 0 }),
      );
      try {
        await hub.ready();
        const opened = track(req, openSse(req, reply));
        stream = opened;
        if (since !== null) await replay(hub, opened, since, queue);
        for (const e of early.splice(0)) send(opened, e);
        if (overflow) opened.send('gap', { missed: true, replayed: 0 });
        live = true;
        await opened.closed;
      } finally {
        unsubscribe();
      }
    },
  );
}

/**
 * Replays to a resuming /v1/events stream the current state of the tasks (of `queue`) that
 * changed since `since` (epoch ms), oldest first, at most REPLAY_LIMIT of them.
 */
async function replay(
  hub: EventHub,
  stream: SseStream,
  since: number,
  queue: string | undefined,
): Promise<void> {
  try {
    const changes = await guardDb(() => hub.changedSince(since, queue ?? null, REPLAY_LIMIT + 1));
    if (changes.length > REPLAY_LIMIT) stream.send('gap', { missed: true, replayed: REPLAY_LIMIT });
    for (const c of changes.slice(0, REPLAY_LIMIT).reverse()) {
      stream.send(
        'status',
        statusEvent({
          taskId: c.taskId,
          queue: c.queue,
          kind: c.status,
          attempt: c.attempt,
          at: c.at,
        }),
        c.at,
      );
    }
  } catch {
    stream.send('gap', { missed: true, replayed: 0 });
  }
}
