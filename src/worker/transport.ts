import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { WorkerService } from '../gen/taskqueue/v1/worker_pb.js';

/** A client of one coordinator's WorkerService, and the HTTP/2 sessions it runs on. */
export interface WorkerClient {
  client: Client<typeof WorkerService>;
  /** Aborted when the worker stops, which ends its connections. */
  sessions: Http2SessionManager;
}

/**
 * Opens a client to the coordinator at `address`, sending `token` as a bearer token and
 * trusting `tlsCa` for https:// addresses. HTTP/2 pings every 5 s notice a dead peer.
 */
export function workerClient(
  address: string,
  opts: { token: string | undefined; tlsCa: string | undefined },
): WorkerClient {
  const sessions = new Http2SessionManager(
    address,
    { pingIntervalMs: 5000, pingTimeoutMs: 5000 },
    opts.tlsCa ? { ca: opts.tlsCa } : {},
  );
  const token = opts.token;
  // No compression (acceptCompression: []): on the stream's small messages gzip cost both
  // ends more CPU than it saved (docs/performance.md).
  const transport = createGrpcTransport({
    baseUrl: address,
    sessionManager: sessions,
    acceptCompression: [],
    interceptors: token
      ? [
          (next) => (req) => {
            req.header.set('authorization', `Bearer ${token}`);
            return next(req);
          },
        ]
      : [],
  });
  return { client: createClient(WorkerService, transport), sessions };
}
