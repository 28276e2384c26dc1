import { create } from '@bufbuild/protobuf';
import { createHash } from 'node:crypto';
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import type { Logger } from 'pino';
import {
  CoordinatorMessageSchema,
  WorkerService,
  type CoordinatorMessage,
  type Hello,
  type WorkerMessage,
} from '../gen/taskqueue/v1/worker_pb.js';
import { PRINCIPAL, REVOKED } from '../api/grpc/auth.js';
import { prepareChildTasks } from '../api/services/children.js';
import { isUuid } from '../api/services/submit.js';
import { Channel } from '../lib/channel.js';
import { describeError } from '../lib/errors.js';
import {
  PackingError,
  STREAM_PROTOCOL,
  unpackCompletions,
  unpackStarts,
  type Completion,
} from '../lib/packed.js';
import type { Db } from '../store/db.js';
import { expireWorkerLeases } from '../store/leases.js';
import type { AttemptResult, NewTask } from '../store/types.js';
import {
  bindWorker,
  markWorkerDisconnected,
  type WorkerBinding,
  type WorkerInfo,
} from '../store/workers.js';
import type { Completer } from './completer.js';
import type { Dispatcher } from './dispatcher.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { Registry, WorkerSession } from './registry.js';
import { leaseCutOnDisconnectMs } from './timings.js';

/** What the worker gateway needs. */
export interface GatewayDeps {
  db: Db;
  coordinatorId: string;
  registry: Registry;
  dispatcher: Dispatcher;
  completer: Completer;
  leases: LeaseKeeper;
  heartbeatMs: number;
  leaseMs: number;
  logger: Logger;
  /** Open streams, so stop() can end them. */
  streams: Set<Channel<CoordinatorMessage>>;
  /** A worker said hello: the queues and handlers it serves. */
  onHello?: (info: WorkerInfo) => void;
}

const MAX_RESULT_JSON = 1024 * 1024;
const MAX_CONCURRENCY = 10_000;
/** Most handler names and queues one hello may declare. */
const MAX_DECLARED = 1000;

/** Registers WorkerService: one long-lived bidi stream per worker. */
export function registerWorkerService(router: ConnectRouter, deps: GatewayDeps): void {
  router.service(WorkerService, {
    connect: (requests, context) => connect(requests, context, deps),
  });
}

async function* connect(
  requests: AsyncIterable<WorkerMessage>,
  context: HandlerContext,
  deps: GatewayDeps,
): AsyncGenerator<CoordinatorMessage> {
  const tokenId = context.values.get(PRINCIPAL)?.tokenId ?? null;
  const out = new Channel<CoordinatorMessage>();
  deps.streams.add(out);
  let session: WorkerSession | undefined;
  // Why the coordinator ends this stream, when it does (a refused hello, a revoked token):
  // the worker gets it as the call's error.
  let ending: ConnectError | undefined;
  const end = (err: ConnectError): void => {
    ending ??= err;
    out.close();
  };
  const revoked = context.values.get(REVOKED);
  const onRevoked = (): void => end(ConnectError.from(revoked?.reason));
  revoked?.addEventListener('abort', onRevoked, { once: true });

  const reader = (async () => {
    const it = requests[Symbol.asyncIterator]();
    // Reading stops when the stream is ended from this side too; a pending read would
    // otherwise wait for the worker to close its half.
    const closed = out.whenClosed.then(() => ({ done: true, value: undefined }) as const);
    try {
      for (;;) {
        const r = await Promise.race([it.next(), closed]);
        if (r.done) break;
        session ??= await openSession(r.value, out, tokenId, deps);
        try {
          handle(session, r.value, deps);
        } catch (err) {
          // A misaligned packed message: nothing in it can be trusted to name the right task.
          if (err instanceof PackingError)
            throw new ConnectError(err.message, Code.InvalidArgument);
          throw err;
        }
      }
    } catch (err) {
      if (err instanceof ConnectError && !out.isClosed) end(err);
      else if (!out.isClosed)
        deps.logger.info(
          { workerId: session?.info.id, err: describeError(err) },
          'worker stream ended with an error',
        );
    } finally {
      out.close();
      void it.return?.();
    }
  })();

  try {
    for await (const m of out) yield m;
    if (ending) throw ending;
  } finally {
    out.close();
    revoked?.removeEventListener('abort', onRevoked);
    deps.streams.delete(out);
    await reader;
    if (session) await disconnect(session, deps);
  }
}

/**
 * Checks a stream's first message, binds its worker id, and registers the stream.
 * @throws ConnectError when the hello is missing or malformed, or the id is not the worker's.
 */
async function openSession(
  msg: WorkerMessage,
  out: Channel<CoordinatorMessage>,
  tokenId: string | null,
  deps: GatewayDeps,
): Promise<WorkerSession> {
  if (!msg.hello)
    throw new ConnectError('the first message must carry hello', Code.InvalidArgument);
  const info = checkHello(msg.hello);
  // The id must be this process's (its instance key) and this token's before the stream may
  // act for it: the fence trusts the worker id of the stream.
  refuseUnbound(
    info.id,
    await bindWorker(deps.db, info, deps.coordinatorId, {
      tokenId,
      instanceKeyHash: hashKey(msg.hello.instanceKey),
    }),
  );
  const session = deps.registry.add(info, (m) => out.push(create(CoordinatorMessageSchema, m)));
  deps.onHello?.(info);
  session.send({
    welcome: {
      coordinatorId: deps.coordinatorId,
      heartbeatIntervalMs: deps.heartbeatMs,
      leaseMs: deps.leaseMs,
      protocol: STREAM_PROTOCOL,
    },
  });
  deps.logger.info(
    {
      workerId: info.id,
      name: info.name,
      handlers: info.handlers,
      queues: info.queues,
      concurrency: info.concurrency,
    },
    'worker connected',
  );
  return session;
}

/**
 * Passes a worker's reports on, each marked with the stream's worker: the fence accepts a
 * report only from the worker that holds the attempt, whatever the message says.
 * @throws PackingError when a packed report is misaligned, and ConnectError when a report names
 * a task by something that is not an id (both before any of the message is used).
 */
function handle(session: WorkerSession, msg: WorkerMessage, deps: GatewayDeps): void {
  session.lastSeenAt = Date.now();
  const workerId = session.info.id;
  const started = msg.started ? unpackStarts(msg.started) : [];
  const completed = msg.completed ? unpackCompletions(msg.completed) : [];
  checkTaskIds(started, 'started.task_id');
  checkTaskIds(completed, 'completed.task_id');
  checkTaskIds(
    msg.progress.flatMap((p) => (p.ref ? [p.ref] : [])),
    'progress.ref.task_id',
  );
  if (msg.heartbeat) checkTaskIds(msg.heartbeat.running, 'heartbeat.running.task_id');
  if (started.length > 0) {
    deps.completer.addStarts(
      started.map((s) => ({
        id: s.taskId,
        attempt: s.attempt,
        workerId,
        startedAt: new Date(Number(s.startedAtMs) || Date.now()),
      })),
    );
  }
  if (completed.length > 0) {
    const results = completed.map((c) => toAttemptResult(c, workerId));
    deps.leases.finished(results);
    deps.completer.addResults(results);
  }
  if (msg.progress.length > 0) {
    deps.completer.addProgress(
      msg.progress.flatMap((p) =>
        p.ref
          ? [
              {
                id: p.ref.taskId,
                attempt: p.ref.attempt,
                workerId,
                percent: Math.max(0, Math.min(100, p.percent || 0)),
                message: clean(p.message).slice(0, 500),
              },
            ]
          : [],
      ),
    );
  }
  if (msg.heartbeat) {
    deps.leases.heartbeat(
      workerId,
      msg.heartbeat.running.map((r) => ({ id: r.taskId, attempt: r.attempt })),
    );
  }
  if (msg.draining && !session.draining) {
    session.draining = true;
    session.credits = 0;
    deps.logger.info({ workerId }, 'worker draining');
    // Any round already claiming for it delivers (or releases) first; then the ack tells the
    // worker that nothing more is on its way.
    void deps.dispatcher.settled().then(() => session.send({ drainAcknowledged: true }));
  }
  if (msg.credits > 0 && !session.draining) {
    session.credits = Math.min(session.credits + msg.credits, session.info.concurrency);
    deps.dispatcher.creditsAvailable();
  }
}

/**
 * Every task a report names must be named by an id. One that is not would make PostgreSQL
 * refuse the whole batch it is written in, other workers' reports with it, and a start report
 * would be retried with every batch after: the stream is cut off before any of it is used.
 */
function checkTaskIds(reports: ReadonlyArray<{ taskId: string }>, field: string): void {
  const bad = reports.find((r) => !isUuid(r.taskId));
  if (bad) {
    throw new ConnectError(
      `${field} must be task ids (UUIDs), got "${bad.taskId.slice(0, 64)}"`,
      Code.InvalidArgument,
    );
  }
}

async function disconnect(session: WorkerSession, deps: GatewayDeps): Promise<void> {
  const workerId = session.info.id;
  if (!deps.registry.remove(session)) return; // a newer stream of this worker took over
  deps.logger.info({ workerId, holding: session.assigned.size }, 'worker disconnected');
  try {
    await markWorkerDisconnected(deps.db, workerId, deps.coordinatorId);
    if (session.assigned.size > 0) {
      // Free its tasks sooner than a full lease. A worker that merely lost its connection
      // reconnects and heartbeats within this grace, which extends them again.
      await expireWorkerLeases(
        deps.db,
        workerId,
        leaseCutOnDisconnectMs(deps.heartbeatMs, deps.leaseMs),
      );
    }
  } catch (err) {
    deps.logger.warn(
      { workerId, err: describeError(err) },
      'recording a disconnect failed; leases will expire on their own',
    );
  }
}

/** The stored form of an instance key: a hash, never the key. */
function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** @throws ConnectError (permission denied) when the id is bound to another process or token. */
function refuseUnbound(id: string, binding: WorkerBinding): void {
  if (binding === 'bound') return;
  throw new ConnectError(
    binding === 'other_token'
      ? `worker id '${id}' is bound to another token: a worker id can be used only with the token it first connected with`
      : `worker id '${id}' belongs to another worker process: each worker process needs its own id (the SDK makes one per Worker)`,
    Code.PermissionDenied,
  );
}

function checkHello(h: Hello): WorkerInfo {
  if (h.protocol !== STREAM_PROTOCOL) {
    throw new ConnectError(
      `this worker speaks version ${h.protocol || 1} of the worker stream and this coordinator version ${STREAM_PROTOCOL}: run workers of the coordinator's release`,
      Code.FailedPrecondition,
    );
  }
  const id = h.workerId.trim();
  if (!id || id.length > 200)
    throw new ConnectError('hello.worker_id must be 1 to 200 characters', Code.InvalidArgument);
  if (h.instanceKey.length < 16 || h.instanceKey.length > 200) {
    throw new ConnectError(
      'hello.instance_key must be a random secret of 16 to 200 characters (upgrade the worker)',
      Code.InvalidArgument,
    );
  }
  if (h.handlers.length > MAX_DECLARED || h.queues.length > MAX_DECLARED) {
    throw new ConnectError(
      `hello may declare at most ${MAX_DECLARED} handlers and ${MAX_DECLARED} queues`,
      Code.InvalidArgument,
    );
  }
  if (h.concurrency < 1 || h.concurrency > MAX_CONCURRENCY) {
    throw new ConnectError(
      `hello.concurrency must be 1 to ${MAX_CONCURRENCY}`,
      Code.InvalidArgument,
    );
  }
  if (h.handlers.length === 0 && !h.acceptsAnyCommand) {
    throw new ConnectError(
      'hello.handlers is empty: the worker would never get a task',
      Code.InvalidArgument,
    );
  }
  return {
    id,
    name: h.name || id,
    queues: h.queues.length > 0 ? [...new Set(h.queues)] : ['default'],
    handlers: [...new Set(h.handlers)],
    acceptsAnyCommand: h.acceptsAnyCommand,
    concurrency: h.concurrency,
    labels: { ...h.labels },
    version: h.version,
  };
}

/**
 * A worker's report as a row to write. Bad JSON or text PostgreSQL cannot store would fail
 * the whole batch, so it is turned into a plain failure of that one attempt here.
 */
function toAttemptResult(r: Completion, workerId: string): AttemptResult {
  let resultJson: string | null = r.resultJson || null;
  let ok = r.ok;
  let error = r.error ? clean(r.error) : null;
  if (resultJson !== null) {
    let problem: string | null = null;
    if (resultJson.length > MAX_RESULT_JSON)
      problem = `result is larger than ${MAX_RESULT_JSON} bytes`;
    else if (resultJson.includes('\\u0000'))
      problem = 'result contains NUL characters, which PostgreSQL cannot store';
    else {
      try {
        JSON.parse(resultJson);
      } catch {
        problem = 'result is not valid JSON';
      }
    }
    if (problem) {
      resultJson = null;
      ok = false;
      error = problem;
    }
  }
  // Children the handler spawned: checked like any submit. Bad ones fail the attempt, as a
  // result PostgreSQL cannot store does: the handler's mistake, reported on its task.
  let children: NewTask[] | undefined;
  if (ok && r.childrenJson) {
    try {
      children = prepareChildTasks(r.childrenJson);
    } catch (err) {
      ok = false;
      error = `the spawned children were refused: ${describeError(err)}`;
      resultJson = null;
    }
  }
  return {
    id: r.taskId,
    attempt: r.attempt,
    workerId,
    ok,
    resultJson,
    error: ok ? null : (error ?? 'failed'),
    retryable: ok ? false : r.retryable,
    executor: r.executor || 'handler',
    failure: ok ? null : r.failure === 'timeout' ? 'timeout' : 'error',
    startedAtMs: r.startedAtMs ? Number(r.startedAtMs) : null,
    ...(children ? { children, waitForChildren: r.waitForChildren } : {}),
  };
}

function clean(text: string): string {
  return text.replaceAll('\u0000', '').slice(0, 10_000);
}
