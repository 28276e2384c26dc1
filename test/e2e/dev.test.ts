import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, startTaskq, type TaskqProcess } from '../helpers/processes.js';

/**
 * `npm start` is `taskq dev`: a new user's first command. It must bring its own
 * PostgreSQL, serve the seed's curl flow, stop everything on Ctrl-C, and recover after a
 * kill -9 left its PostgreSQL orphaned.
 */

const dataDir = mkdtempSync(join(tmpdir(), 'taskq-dev-test-'));
// mkdtemp makes it private; as root the server runs as the postgres user, who must reach it.
chmodSync(dataDir, 0o755);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function devArgs(): string[] {
  return [
    'dev',
    '--data-dir',
    dataDir,
    '--grpc-port',
    '0',
    '--http-port',
    '0',
    '--scheduler-port',
    '0',
    '--pg-port',
    '0',
  ];
}

/** Without these, dev would use the test run's database instead of its own. */
const DEV_ENV = { DATABASE_URL: undefined, POSTGRES_HOST: undefined, TASKQ_SCHEMA: undefined };

function startDev(): TaskqProcess {
  return startTaskq('taskq dev', devArgs(), DEV_ENV);
}

async function apiBase(dev: TaskqProcess): Promise<string> {
  const m = await dev.waitForOutput(/Scheduler REST\s+http:\/\/127\.0\.0\.1:(\d+)/);
  return `http://localhost:${m[1]}`;
}

let firstTaskId = '';

async function seedFlow(dev: TaskqProcess): Promise<string> {
  const base = await apiBase(dev);
  const res = await fetch(`${base}/schedule`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: '{"command":"echo hi", "scheduled_at":"2023-04-01T15:04:05Z"}',
  });
  const { task_id } = (await res.json()) as { task_id: string };
  let status: Record<string, string> = {};
  for (let i = 0; i < 200 && status.status !== 'succeeded'; i++) {
    status = (await (await fetch(`${base}/status?task_id=${task_id}`)).json()) as Record<
      string,
      string
    >;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(status).toMatchObject({ status: 'succeeded', command: 'echo hi' });
  expect(status.picked_at && status.started_at && status.completed_at).toBeTruthy();
  return task_id;
}

function postmasterPid(): number | null {
  const file = join(dataDir, 'pg', 'postmaster.pid');
  if (!existsSync(file)) return null;
  return Number(readFileSync(file, 'utf8').split('\n')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('taskq dev', () => {
  it('serves the seed curl flow on its own PostgreSQL, and Ctrl-C stops everything', async () => {
    const dev = startDev();
    firstTaskId = await seedFlow(dev);
    const pgPid = postmasterPid();
    expect(pgPid && alive(pgPid)).toBeTruthy();
    dev.signal('SIGINT');
    await dev.exited;
    expect(dev.exitCode).toBe(0);
    expect(alive(pgPid as number)).toBe(false);
    expect(existsSync(join(dataDir, 'dev.pid'))).toBe(false);
  });

  it('Ctrl-C in a terminal (SIGINT to the process group, forwarded again by npm) stops PostgreSQL', async () => {
    // As `npm start` in a terminal: npm and taskq share a process group; Ctrl-C signals the
    // group, and npm forwards its copy to taskq, which so gets two SIGINTs at once.
    const wrapper = spawn(
      process.execPath,
      [
        '-e',
        `const c = require('child_process').spawn(process.execPath, process.argv.slice(1), { stdio: 'inherit' });
         for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => c.kill(s));
         c.on('exit', (code, sig) => process.exit(code ?? 1));`,
        CLI,
        ...devArgs(),
      ],
      {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...DEV_ENV, TASKQ_LOG_FORMAT: 'json' },
      },
    );
    const output: string[] = [];
    wrapper.stdout.on('data', (c: Buffer) => output.push(c.toString()));
    wrapper.stderr.on('data', (c: Buffer) => output.push(c.toString()));
    const exited = new Promise<number | null>((r) => wrapper.once('exit', (code) => r(code)));
    for (let i = 0; i < 600 && !/Task Queue is running/.test(output.join('')); i++)
      await new Promise((r) => setTimeout(r, 50));
    const pgPid = postmasterPid() as number;
    expect(alive(pgPid)).toBe(true);
    process.kill(-(wrapper.pid as number), 'SIGINT');
    expect(await exited).toBe(0);
    const log = output.join('');
    expect(log).not.toMatch(/second signal/);
    expect(alive(pgPid)).toBe(false);
  });

  it('a second Ctrl-C forces an exit mid-drain, and still stops PostgreSQL', async () => {
    const dev = startDev();
    const base = await apiBase(dev);
    // A task that holds the workers' drain open.
    await fetch(`${base}/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'sleep 60000' }),
    });
    await new Promise((r) => setTimeout(r, 1000));
    const pgPid = postmasterPid() as number;
    dev.signal('SIGINT');
    await new Promise((r) => setTimeout(r, 1500));
    dev.signal('SIGINT');
    await dev.exited;
    expect(dev.exitCode).toBe(130);
    for (let i = 0; i < 200 && alive(pgPid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pgPid)).toBe(false);
    expect(existsSync(join(dataDir, 'dev.pid'))).toBe(false);
  });

  it('recovers the PostgreSQL orphaned by a kill -9, keeping the data', async () => {
    const first = startDev();
    await first.waitForOutput(/Task Queue is running/);
    first.signal('SIGKILL');
    await first.exited;
    const orphan = postmasterPid() as number;
    expect(alive(orphan)).toBe(true);

    const second = startDev();
    const kept = await fetch(`${await apiBase(second)}/status?task_id=${firstTaskId}`);
    expect(((await kept.json()) as { status: string }).status).toBe('succeeded');
    await seedFlow(second);
    expect(alive(orphan)).toBe(false);
    expect(second.output.join('\n')).toMatch(/orphaned PostgreSQL/);
    second.signal('SIGINT');
    await second.exited;
    expect(second.exitCode).toBe(0);
  });
});
