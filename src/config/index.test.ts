import { describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors.js';
import {
  checkBinding,
  isLoopback,
  databaseUrlFromEnv,
  resolveCoordinatorOptions,
} from './index.js';

describe('databaseUrlFromEnv', () => {
  it('prefers DATABASE_URL', () => {
    expect(databaseUrlFromEnv({ DATABASE_URL: 'postgres://a@b/c', POSTGRES_HOST: 'x' })).toBe(
      'postgres://a@b/c',
    );
  });

  it("builds a URL from the seed's POSTGRES_* variables, escaping what needs it", () => {
    expect(
      databaseUrlFromEnv({
        POSTGRES_HOST: 'db',
        POSTGRES_USER: 'task q',
        POSTGRES_PASSWORD: 'p@ss:w/rd',
        POSTGRES_DB: 'jobs',
      }),
    ).toBe('postgres://task%20q:p%40ss%3Aw%2Frd@db:5432/jobs');
    expect(databaseUrlFromEnv({ POSTGRES_HOST: 'db', POSTGRES_PORT: '6543' })).toBe(
      'postgres://postgres@db:6543/postgres',
    );
  });

  it('is undefined when nothing is set', () => {
    expect(databaseUrlFromEnv({})).toBeUndefined();
  });
});

describe('resolveCoordinatorOptions', () => {
  it('fills in the defaults', () => {
    expect(resolveCoordinatorOptions({ databaseUrl: 'postgres://x' })).toMatchObject({
      schema: 'taskq',
      host: '127.0.0.1',
      grpcPort: 50051,
      httpPort: 8080,
      leaseMs: 5000,
      heartbeatMs: 1000,
      leaderTtlMs: 5000,
    });
  });

  it('names the bad option', () => {
    expect(() =>
      resolveCoordinatorOptions({ databaseUrl: 'postgres://x', grpcPort: 70000 }),
    ).toThrow(/grpcPort/);
    expect(() =>
      resolveCoordinatorOptions({ databaseUrl: 'postgres://x', schema: 'Bad-Name' }),
    ).toThrow(/schema/);
    expect(() =>
      resolveCoordinatorOptions({ databaseUrl: 'postgres://x', leaseMs: 1000, heartbeatMs: 1000 }),
    ).toThrow(/leaseMs \(1000\) must be at least twice heartbeatMs/);
    expect(() =>
      resolveCoordinatorOptions({ databaseUrl: 'postgres://x', tlsCert: 'a.pem' }),
    ).toThrow(/both --tls-cert and --tls-key/);
  });
});

describe('checkBinding', () => {
  it('refuses a public address without tokens unless insecure', () => {
    expect(() => checkBinding('0.0.0.0', false, false)).toThrow(ConfigError);
    expect(() => checkBinding('0.0.0.0', true, false)).not.toThrow();
    expect(() => checkBinding('0.0.0.0', false, true)).not.toThrow();
    expect(() => checkBinding('127.0.0.1', false, false)).not.toThrow();
    expect(() => checkBinding('localhost', false, false)).not.toThrow();
  });
});

describe('isLoopback', () => {
  it('accepts only loopback IP literals and localhost, parsed', () => {
    for (const host of [
      'localhost',
      'LOCALHOST',
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
    ])
      expect(isLoopback(host), host).toBe(true);
    for (const host of [
      '127.evil.example',
      '127.0.0.1.nip.io',
      '127.0.0.1.',
      'localhost.evil.example',
      'evil-localhost',
      '128.0.0.1',
      '10.0.0.1',
      '0.0.0.0',
      '::',
      '::ffff:10.0.0.1',
      '',
    ])
      expect(isLoopback(host), host).toBe(false);
  });
});
