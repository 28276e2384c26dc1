import { connect as tlsConnect } from 'node:tls';
import { Code, ConnectError } from '@connectrpc/connect';

/**
 * A coordinator refused this worker for good: its token (missing, unknown, revoked, expired,
 * or without the worker role) or its id. Reconnecting cannot help; the worker stops.
 */
export class WorkerRefusedError extends Error {
  constructor(
    message: string,
    readonly coordinator: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'WorkerRefusedError';
  }
}

/** The refusal a stream error stands for, or null for a failure worth retrying. */
export function refusal(
  address: string,
  err: unknown,
  hasToken: boolean,
): WorkerRefusedError | null {
  const e = ConnectError.from(err);
  if (e.code === Code.Unauthenticated) {
    const what = hasToken
      ? "refused this worker's token"
      : 'needs a token, and this worker has none';
    return new WorkerRefusedError(
      `coordinator ${address} ${what}: ${e.rawMessage}. Pass --token (or TASKQ_TOKEN) with a token of the worker or admin role; create one with \`taskq token create --name workers --role worker\`.`,
      address,
      { cause: err },
    );
  }
  if (e.code === Code.PermissionDenied) {
    return new WorkerRefusedError(
      `coordinator ${address} refused this worker: ${e.rawMessage}`,
      address,
      {
        cause: err,
      },
    );
  }
  return null;
}

/**
 * Explains a failure to open a stream when the cause is a scheme that does not match the
 * coordinator: plaintext to a TLS port (which shows up as a cancelled HTTP/2 stream), or TLS
 * to a plaintext one. Resolves to null when the scheme is not the problem.
 */
export async function schemeMismatch(address: string, err: unknown): Promise<string | null> {
  const url = new URL(address);
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const message = err instanceof Error ? err.message : String(err);
  if (url.protocol === 'https:') {
    if (!/wrong version number|packet length too long|EPROTO|ssl3_get_record/i.test(message))
      return null;
    return `coordinator ${address} does not speak TLS: use http://${url.host}`;
  }
  if (!(await speaksTls(host, port))) return null;
  return `coordinator ${address} speaks TLS: use https://${url.host}, with --tls-ca <ca.pem> (or TASKQ_TLS_CA) when its certificate comes from a private CA`;
}

/** Whether a TLS handshake with host:port completes (the certificate is not checked here). */
function speaksTls(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
  });
}
