import { execFile } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { childEnv, startScheduler } from '../helpers/cluster.js';
import { CLI } from '../helpers/processes.js';

/** `taskq schedules …` against a real scheduler, and `taskq token …` against the database. */

const db = await useSchema();
let api = '';

beforeAll(async () => {
  api = `http://127.0.0.1:${(await startScheduler(db.schema, 'file')).httpPort}`;
});

function taskq(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ...childEnv(db.schema), TASKQ_URL: api, ...env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('taskq schedules', () => {
  it('adds, lists, pauses, resumes, triggers and removes a schedule', async () => {
    const added = await taskq([
      'schedules',
      'add',
      'nightly',
      '30 2 * * *',
      'report',
      'daily',
      '--timezone',
      'Europe/Paris',
      '--payload',
      '{"format":"pdf"}',
      '--json',
    ]);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({
      name: 'nightly',
      cron: '30 2 * * *',
      timezone: 'Europe/Paris',
      command: 'report daily',
      payload: { format: 'pdf' },
    });
    const ls = await taskq(['schedules']);
    expect(ls.stdout).toMatch(/nightly\s+active\s+30 2 \* \* \* \(Europe\/Paris\)/);
    expect((await taskq(['schedules', 'pause', 'nightly'])).stdout).toMatch(
      /schedule nightly: paused/,
    );
    expect((await taskq(['schedules', 'resume', 'nightly'])).stdout).toMatch(
      /schedule nightly: active/,
    );
    const triggered = await taskq(['schedules', 'trigger', 'nightly']);
    const taskId = triggered.stdout.trim();
    const task = (await (await fetch(`${api}/v1/tasks/${taskId}`)).json()) as { command: string };
    expect(task.command).toBe('report daily');
    expect((await taskq(['schedules', 'rm', 'nightly'])).code).toBe(0);
    expect((await taskq(['schedules', 'ls', '--json'])).stdout).toMatch(/"items": \[\]/);
  });

  it('explains a bad cron or policy and exits 2', async () => {
    const cron = await taskq(['schedules', 'add', 'bad', 'every day', 'echo']);
    expect(cron.code).toBe(2);
    expect(cron.stderr).toMatch(/cron must have 5 fields/);
    const policy = await taskq([
      'schedules',
      'add',
      'bad',
      '* * * * *',
      'echo',
      '--misfire',
      'maybe',
    ]);
    expect(policy.code).toBe(2);
    expect(policy.stderr).toMatch(/--misfire must be one of skip, run_once, run_all/);
  });
});

describe('taskq token', () => {
  it('creates a token shown once, lists it without the secret, and revokes it', async () => {
    const created = await taskq([
      'token',
      'create',
      '--name',
      'ci',
      '--role',
      'submit',
      '--expires',
      '30d',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const { token, role, expires_at } = JSON.parse(created.stdout) as {
      token: string;
      role: string;
      expires_at: string;
    };
    expect(token).toMatch(/^tq_[\w-]{40,}$/);
    expect(role).toBe('submit');
    expect(Date.parse(expires_at) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    // From now on (within the 2 s the servers cache it) the API needs it.
    let open = 200;
    for (let i = 0; i < 50 && open !== 401; i++) {
      await new Promise((r) => setTimeout(r, 100));
      open = (await fetch(`${api}/v1/queues`)).status;
    }
    expect(open).toBe(401);
    expect(
      (await fetch(`${api}/v1/queues`, { headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(200);
    const ls = await taskq(['token', 'ls']);
    expect(ls.stdout).toMatch(/ci\s+submit\s+tq_\S+…\s+active/);
    expect(ls.stdout).not.toContain(token);
    expect((await taskq(['token', 'create', '--name', 'ci'])).stderr).toMatch(/already exists/);
    expect((await taskq(['token', 'create', '--name', 'x', '--role', 'root'])).stderr).toMatch(
      /--role must be one of admin, submit, read, worker/,
    );
    expect((await taskq(['token', 'revoke', 'ci'])).stdout).toMatch(/revoked ci/);
    expect((await taskq(['token', 'ls'])).stdout).toMatch(/ci\s+submit\s+\S+\s+revoked/);
    expect((await taskq(['token', 'revoke', 'nobody'])).code).toBe(2);
  });
});

describe('taskq migrate', () => {
  it('refuses a schema migrated by a newer release, with a message naming both versions', async () => {
    const schema = `${db.schema}_old`;
    const env = { TASKQ_SCHEMA: schema };
    expect((await taskq(['migrate'], env)).stdout).toMatch(/applied migrations 1, 2/);
    expect((await taskq(['migrate'], env)).stdout).toMatch(/is up to date/);
    await db.pool.query(
      `INSERT INTO "${schema}".migrations (version, name) VALUES (9999, 'from_a_newer_release')`,
    );
    const refused = await taskq(['migrate'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /schema ".*_old" is at version 9999, but this taskq release knows only up to \d+.*upgrade taskq/,
    );
    const coordinator = await taskq(['coordinator', '--grpc-port', '0', '--http-port', '0'], env);
    expect(coordinator.code).toBe(2);
    expect(coordinator.stderr).toMatch(/is at version 9999/);
    await db.pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  });
});
