import {
  Code,
  ConnectError,
  createContextKey,
  createContextValues,
  type ContextValues,
  type Interceptor,
} from '@connectrpc/connect';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { RateLimitedError, TaskQueueError } from '../../lib/errors.js';
import {
  authorize,
  type Action,
  type Authenticator,
  type Principal,
} from '../auth/authenticator.js';

const ACTIONS: Record<string, Action> = {
  'taskqueue.v1.WorkerService/Connect': 'work',
  'taskqueue.v1.TaskService/SubmitTask': 'write',
  'taskqueue.v1.TaskService/CancelTask': 'write',
  'taskqueue.v1.TaskService/GetTask': 'read',
  'taskqueue.v1.TaskService/WatchTask': 'read',
  'taskqueue.v1.TaskService/SubmitWorkflow': 'write',
  'taskqueue.v1.TaskService/GetWorkflow': 'read',
  'taskqueue.v1.TaskService/WatchWorkflow': 'read',
  // The roles of the REST /v1/queues routes.
  'taskqueue.v1.QueueService/ListQueues': 'read',
  'taskqueue.v1.QueueService/GetQueue': 'read',
  'taskqueue.v1.QueueService/UpdateQueue': 'admin',
  'taskqueue.v1.QueueService/PauseQueue': 'admin',
  'taskqueue.v1.QueueService/ResumeQueue': 'admin',
};

/** The caller of a gRPC call, as authenticated by {@link authInterceptor}. */
export const PRINCIPAL = createContextKey<Principal | null>(null, { description: 'principal' });
/**
 * Aborts, with an unauthenticated ConnectError as its reason, when the token a streaming
 * call was opened with is revoked or expires. Handlers that hold state for the call (the
 * worker gateway) listen to end it themselves; other streams are ended for them.
 */
export const REVOKED = createContextKey<AbortSignal | null>(null, { description: 'revoked' });
const PEER = createContextKey<string>('', { description: 'peer address' });

/** Context values of a gRPC call: the peer address, for rate limiting failed logins. */
export function grpcContextValues(req: IncomingMessage | Http2ServerRequest): ContextValues {
  return createContextValues().set(PEER, `ip:${req.socket.remoteAddress ?? ''}`);
}

/**
 * gRPC side of authentication: the `authorization: Bearer <token>` metadata, the same
 * tokens and roles as REST. Unknown methods need admin. The caller is left in the call's
 * context ({@link PRINCIPAL}), and a streaming call opened with a token ends within two
 * seconds of the token's revocation or expiry.
 */
export function authInterceptor(auth: Authenticator): Interceptor {
  return (next) => async (req) => {
    const action = ACTIONS[`${req.method.parent.typeName}/${req.method.name}`] ?? 'admin';
    let principal: Principal;
    try {
      principal = await auth.authenticate(
        req.header.get('authorization'),
        req.contextValues.get(PEER),
      );
      authorize(principal, action);
    } catch (err) {
      throw toConnectError(err);
    }
    req.contextValues.set(PRINCIPAL, principal);
    if (!req.stream || principal.tokenId === null) return next(req);
    const revoked = new AbortController();
    const unwatch = auth.watch(principal, (reason) =>
      revoked.abort(
        new ConnectError(`${reason}; reconnect with a valid token`, Code.Unauthenticated),
      ),
    );
    req.contextValues.set(REVOKED, revoked.signal);
    try {
      const res = await next(req);
      if (!res.stream) {
        unwatch();
        return res;
      }
      return { ...res, message: endWhenRevoked(res.message, revoked.signal, unwatch) };
    } catch (err) {
      unwatch();
      throw err;
    }
  };
}

function toConnectError(err: unknown): ConnectError {
  if (err instanceof RateLimitedError) {
    const e = new ConnectError(err.message, Code.ResourceExhausted);
    e.metadata.set('retry-after', String(err.retryAfterS));
    return e;
  }
  if (err instanceof TaskQueueError) {
    return new ConnectError(
      err.message,
      err.code === 'forbidden' ? Code.PermissionDenied : Code.Unauthenticated,
    );
  }
  return new ConnectError('authentication is unavailable; try again shortly', Code.Unavailable);
}

/** Passes a stream's messages through until `revoked` aborts; then ends it with its reason. */
async function* endWhenRevoked<T>(
  source: AsyncIterable<T>,
  revoked: AbortSignal,
  unwatch: () => void,
): AsyncGenerator<T> {
  const aborted = new Promise<never>((_resolve, reject) => {
    if (revoked.aborted) reject(revoked.reason as Error);
    revoked.addEventListener('abort', () => reject(revoked.reason as Error), { once: true });
  });
  aborted.catch(() => undefined);
  const it = source[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      const r = await Promise.race([it.next(), aborted]);
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    unwatch();
    // A pending next() holds the source's return() back until the source sees the call
    // end (which this error brings about), so it is not awaited here.
    if (!done) void it.return?.();
  }
}
