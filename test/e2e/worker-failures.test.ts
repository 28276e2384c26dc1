import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/store/tokens.js';
import { childEnv, startCoordinator } from '../helpers/cluster.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator } from '../helpers/inprocess.js';
import { startTaskq } from '../helpers/processes.js';

/**
 * `taskq worker` as an operator meets it when something is wrong: a refused token ends it
 * with a message that says what to do, a plaintext worker pointed at a TLS coordinator is
 * told so, and a worker whose coordinator is gone obeys SIGTERM at once.
 */
const dir = mkdtempSync(join(tmpdir(), 'taskq-worker-failures-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a worker that cannot work', () => {
  it('exits non-zero when its token is refused, or missing, saying what to do', async () => {
    const db = await useSchema();
    await createToken(db, { name: 'on', role: 'admin' });
    const c = await startCoordinator(db.schema);
    for (const token of ['tq_not-a-token', undefined]) {
      const w = startTaskq('worker', ['worker', '--coordinator', `127.0.0.1:${c.grpcPort}`], {
        ...childEnv(db.schema),
        TASKQ_TOKEN: token,
      });
      await w.exited;
      expect(w.exitCode, String(token)).toBe(2);
      const out = w.output.join('\n');
      expect(out).toMatch(
        token ? /refused this worker's token/ : /needs a token, and this worker has none/,
      );
      expect(out).toMatch(/--token/);
      expect(out).toMatch(/taskq token create/);
    }
  });

  it('says so when a plaintext worker meets a TLS coordinator', async () => {
    const db = await useSchema();
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
    const c = await inProcessCoordinator(db, { extra: { tlsCert: cert, tlsKey: key } });
    const w = startTaskq(
      'worker',
      ['worker', '--coordinator', `127.0.0.1:${c.grpcPort}`],
      childEnv(db.schema),
    );
    const line = await w.waitForLog((l) => typeof l.msg === 'string' && /speaks TLS/.test(l.msg));
    expect(line.msg).toMatch(new RegExp(`use https://127\\.0\\.0\\.1:${c.grpcPort}`));
    expect(line.msg).toMatch(/--tls-ca/);
    expect(line.level).toBe(50); // error
  });

  it('obeys SIGTERM at once when its coordinator is gone', async () => {
    const db = await useSchema();
    const c = await startCoordinator(db.schema);
    const w = startTaskq(
      'worker',
      ['worker', '--coordinator', `127.0.0.1:${c.grpcPort}`],
      childEnv(db.schema),
    );
    await w.waitForMsg('connected');
    c.proc.signal('SIGKILL');
    await c.proc.exited;
    await w.waitForMsg('coordinator stream failed');
    const t0 = Date.now();
    w.signal('SIGTERM');
    await w.exited;
    expect(w.exitCode).toBe(0);
    expect(Date.now() - t0).toBeLessThan(1500);
  });
});
