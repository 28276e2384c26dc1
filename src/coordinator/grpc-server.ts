import http2 from 'node:http2';
import type { ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { authInterceptor, grpcContextValues } from '../api/grpc/auth.js';
import { useStrictUtf8 } from '../api/grpc/utf8.js';
import type { Authenticator } from '../api/auth/authenticator.js';

/**
 * The coordinator's gRPC endpoint: HTTP/2 (TLS when given a certificate), every call
 * authenticated, strings decoded strictly. It tracks its HTTP/2 sessions so that closing it
 * can send GOAWAY to each and destroy the ones that do not go in time.
 */
export class GrpcServer {
  private readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(o: {
    auth: Authenticator;
    tls: { cert: string; key: string } | undefined;
    routes: (router: ConnectRouter) => void;
  }) {
    useStrictUtf8();
    const handler = connectNodeAdapter({
      interceptors: [authInterceptor(o.auth)],
      contextValues: grpcContextValues,
      routes: o.routes,
    });
    this.server = o.tls
      ? http2.createSecureServer(o.tls, handler)
      : http2.createServer({}, handler);
    this.server.on('session', (s) => {
      this.sessions.add(s);
      s.once('close', () => this.sessions.delete(s));
    });
  }

  /** Listens; resolves with the bound port (useful with port 0). */
  listen(port: number, host: string): Promise<number> {
    const server = this.server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  /**
   * Stops accepting connections and sends GOAWAY (open streams may finish, none start);
   * destroys what is still open after `graceMs`.
   */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sessions) s.close();
    const forced = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(forced);
  }
}
