import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { TaskQueueError } from '../lib/errors.js';
import { authorize, type Action, type Authenticator } from './auth.js';

const ACTIONS: Record<string, Action> = {
  'taskqueue.v1.WorkerService/Connect': 'work',
  'taskqueue.v1.TaskService/SubmitTask': 'write',
  'taskqueue.v1.TaskService/CancelTask': 'write',
  'taskqueue.v1.TaskService/GetTask': 'read',
  'taskqueue.v1.TaskService/WatchTask': 'read',
};

/**
 * gRPC side of authentication: the `authorization: Bearer <token>` metadata, the same
 * tokens and roles as REST. Unknown methods need admin.
 */
export function authInterceptor(auth: Authenticator): Interceptor {
  return (next) => async (req) => {
    const action = ACTIONS[`${req.method.parent.typeName}/${req.method.name}`] ?? 'admin';
    try {
      authorize(await auth.authenticate(req.header.get('authorization')), action);
    } catch (err) {
      if (err instanceof TaskQueueError) {
        throw new ConnectError(
          err.message,
          err.code === 'forbidden' ? Code.PermissionDenied : Code.Unauthenticated,
        );
      }
      throw new ConnectError('authentication is unavailable; try again shortly', Code.Unavailable);
    }
    return next(req);
  };
}
