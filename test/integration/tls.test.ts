import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';

const db = await useSchema();
const dir = mkdtempSync(join(tmpdir(), 'taskq-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function selfSigned(): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

function httpsJson(
  port: number,
  method: string,
  path: string,
  ca: string,
  body?: object,
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        ca,
        headers: body ? { 'content-type': 'application/json' } : {},
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }),
        );
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('TLS', () => {
  it.skipIf(!hasOpenssl)(
    'serves REST over HTTPS and the worker stream over gRPC with TLS',
    async () => {
      const { cert, key } = selfSigned();
      const ca = readFileSync(cert, 'utf8');
      const c = await inProcessCoordinator(db, { extra: { tlsCert: cert, tlsKey: key } });
      await inProcessWorker(c, {
        coordinators: [`https://127.0.0.1:${c.grpcPort}`],
        tlsCa: ca,
        queues: ['tls'],
      });
      const created = await httpsJson(c.httpPort, 'POST', '/v1/tasks', ca, {
        command: 'echo over tls',
        queue: 'tls',
      });
      expect(created.status).toBe(201);
      let task = created.body;
      for (let i = 0; i < 100 && task.status !== 'succeeded'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        task = (await httpsJson(c.httpPort, 'GET', `/v1/tasks/${created.body.id}`, ca)).body;
      }
      expect(task).toMatchObject({ status: 'succeeded', result: { message: 'over tls' } });
      // Plain HTTP to the TLS port gets nowhere.
      await expect(fetch(`http://127.0.0.1:${c.httpPort}/healthz`)).rejects.toThrow();
    },
  );
});
