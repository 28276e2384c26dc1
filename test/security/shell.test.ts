import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../../src/lib/errors.js';
import { shellHandler, type ShellResult } from '../../src/worker/executors/shell.js';
import { NonRetryableError, WaitForChildren, type TaskContext } from '../../src/worker/types.js';
import { startCoordinator, startWorker } from '../helpers/cluster.js';
import { databaseUrl, useSchema } from '../helpers/db.js';
import { CLI } from '../helpers/processes.js';

/**
 * The shell executor on a worker with an allow list (`--shell-allow ls,date`) runs the listed
 * program itself, never a shell, so no command line can make it run anything else; and on
 * every worker a command's environment holds no secret the operator did not name. Every
 * command here is harmless: ls, date, echo, env, and a `touch` that would only write into
 * this file's own temporary folder, if it ran at all.
 */

const db = await useSchema();
const dir = mkdtempSync(join(tmpdir(), 'taskq-shell-'));
const marker = (name: string): string => join(dir, name);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Values the worker has and a command must not see; and one the operator names.
const SECRET_TOKEN = 'tq_secret_token_for_the_shell_test';
const SECRET_DB_URL = 'postgres://secret-user:secret-password@db.invalid/shell';
const NAMED = 'TASKQ_SHELL_TEST_NAMED';

/** Variables sh sets for itself, whatever its environment. */
const SET_BY_SH = new Set(['PWD', 'OLDPWD', 'SHLVL', '_']);

afterEach(() => {
  vi.unstubAllEnvs();
});

/** Each way an allow-listed first word used to carry a second command, with its refusal. */
const BYPASSES: Array<{ name: string; command: (x: string) => string; refusal: string }> = [
  { name: 'and', command: (x) => `ls && touch '${x}'`, refusal: "shell operator '&&'" },
  { name: 'dollar-paren', command: (x) => `ls $(touch '${x}')`, refusal: "substitution '$'" },
  { name: 'backtick', command: (x) => `ls \`touch '${x}'\``, refusal: 'a backtick (`)' },
  { name: 'newline', command: (x) => `ls\ntouch '${x}'`, refusal: 'a newline' },
  { name: 'pipe', command: (x) => `ls | tee '${x}'`, refusal: "shell operator '|'" },
  { name: 'redirect', command: (x) => `ls > '${x}'`, refusal: "redirection '>'" },
  { name: 'background', command: (x) => `ls & touch '${x}'`, refusal: "shell operator '&'" },
  { name: 'ifs', command: (x) => `ls \${IFS}; touch '${x}'`, refusal: "substitution '$IFS'" },
];

/** A task context for calling the handler directly, as the worker would. */
function context(command: string): TaskContext {
  return {
    taskId: '01a21932-25a1-7572-82b2-fc4075f7d45b',
    attempt: 1,
    maxAttempts: 1,
    command,
    args: [],
    queue: 'default',
    scheduledAt: new Date(),
    signal: new AbortController().signal,
    progress: () => undefined,
    log: pino({ level: 'silent' }),
    parents: {},
    children: undefined,
    failure: undefined,
    spawn: (children) => children,
    waitFor: (children = []) => new WaitForChildren(children),
  };
}

async function runShell(
  options: Parameters<typeof shellHandler>[0],
  command: string,
): Promise<ShellResult> {
  return await shellHandler(options)(null, context(command));
}

/** `env` output as a map. */
function parseEnv(stdout: string): Map<string, string> {
  return new Map(
    stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
  );
}

describe('the shell handler with an allow list', () => {
  const allow = ['ls', 'date', 'echo', 'env'];

  it.each(BYPASSES)('refuses $name and runs nothing', async ({ name, command, refusal }) => {
    const x = marker(`handler-${name}`);
    const run = runShell({ allow }, command(x));
    await expect(run).rejects.toBeInstanceOf(NonRetryableError);
    await expect(run).rejects.toThrow(
      `${refusal} is not allowed with --shell-allow: the command runs without a shell`,
    );
    expect(existsSync(x)).toBe(false);
  });

  it('keeps quoting: one quoted argument with a space is one argument', async () => {
    const file = marker('my file');
    writeFileSync(file, '');
    const r = await runShell({ allow }, `ls '${file}'`);
    expect(r).toMatchObject({ exit_code: 0, stdout: `${file}\n`, truncated: false });
    const echo = await runShell({ allow }, `echo "a  b" 'c;d' e\\&f`);
    expect(echo.stdout).toBe('a  b c;d e&f\n');
  });

  it('matches the program name exactly: /bin/ls is not ls', async () => {
    await expect(runShell({ allow }, '/bin/ls')).rejects.toThrow(
      "shell command '/bin/ls' is not in this worker's allow list",
    );
    const listed = await runShell({ allow: ['/bin/ls'] }, `/bin/ls '${dir}'`);
    expect(listed.exit_code).toBe(0);
  });
});

describe("a shell command's environment", () => {
  it.each([
    ['with an allow list', { allow: ['env'] }],
    ['without an allow list', {}],
  ])('%s holds only the short list, never the worker secrets', async (_, options) => {
    vi.stubEnv('TASKQ_TOKEN', SECRET_TOKEN);
    vi.stubEnv('DATABASE_URL', SECRET_DB_URL);
    vi.stubEnv(NAMED, 'named value');
    vi.stubEnv('LANG', 'C.UTF-8');
    const r = await runShell({ ...options, env: [NAMED] }, 'env');
    const env = parseEnv(r.stdout);
    expect(r.stdout).not.toContain(SECRET_TOKEN);
    expect(r.stdout).not.toContain(SECRET_DB_URL);
    expect(env.has('TASKQ_TOKEN')).toBe(false);
    expect(env.has('DATABASE_URL')).toBe(false);
    expect(env.get(NAMED)).toBe('named value');
    expect(env.get('LANG')).toBe('C.UTF-8');
    expect(env.get('TASKQ_TASK_ID')).toBe('01a21932-25a1-7572-82b2-fc4075f7d45b');
    expect(env.get('TASKQ_PAYLOAD')).toBe('null');
    // sh sets PWD and the like itself; nothing else comes from the worker.
    const fromWorker = [...env.keys()].filter(
      (k) => process.env[k] !== undefined && !SET_BY_SH.has(k),
    );
    expect(fromWorker.sort()).toEqual(
      ['HOME', 'LANG', 'PATH', 'TZ', NAMED].filter((k) => process.env[k] !== undefined).sort(),
    );
  });

  it('passes DATABASE_URL only when the operator names it', async () => {
    vi.stubEnv('DATABASE_URL', SECRET_DB_URL);
    const r = await runShell({ allow: ['env'], env: ['DATABASE_URL'] }, 'env');
    expect(parseEnv(r.stdout).get('DATABASE_URL')).toBe(SECRET_DB_URL);
  });

  it('refuses to pass TASKQ_TOKEN even when named, and names that are not variables', () => {
    expect(() => shellHandler({ env: ['TASKQ_TOKEN'] })).toThrow(ValidationError);
    expect(() => shellHandler({ env: ['TASKQ_TOKEN'] })).toThrow(
      /lists TASKQ_TOKEN, which is never passed to shell commands/,
    );
    expect(() => shellHandler({ env: ['A=B'] })).toThrow(/not an environment variable name/);
  });
});

describe('a real `taskq worker --allow-shell --shell-allow`', () => {
  let api = '';
  const queue = 'shell';

  interface TaskJson {
    id: string;
    status: string;
    attempt: number;
    error: string | null;
    result: ShellResult | null;
  }

  beforeAll(async () => {
    const coordinator = await startCoordinator(db.schema, { scope: 'file' });
    api = `http://127.0.0.1:${coordinator.httpPort}`;
    // The worker inherits this process's environment (see startTaskq): give it a token and a
    // named variable; it gets the real DATABASE_URL from the helper. No tokens exist in this
    // schema, so the coordinator ignores the worker's token.
    vi.stubEnv('TASKQ_TOKEN', SECRET_TOKEN);
    vi.stubEnv(NAMED, 'named value');
    await startWorker(db.schema, coordinator.grpcPort, {
      queue,
      scope: 'file',
      extra: ['--allow-shell', '--shell-allow', 'ls,date,env', '--shell-env', NAMED],
    });
    vi.unstubAllEnvs();
  });

  async function submit(command: string): Promise<TaskJson> {
    const res = await fetch(`${api}/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command, queue, max_attempts: 3 }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as TaskJson;
  }

  async function finished(id: string, timeoutMs = 20_000): Promise<TaskJson> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const t = (await (await fetch(`${api}/v1/tasks/${id}`)).json()) as TaskJson;
      if (['succeeded', 'dead', 'cancelled'].includes(t.status)) return t;
      if (Date.now() > deadline) throw new Error(`task ${id} still ${t.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('fails every bypass at once, without retries, and runs nothing', async () => {
    const submitted = await Promise.all(
      BYPASSES.map(async (b) => {
        const x = marker(`worker-${b.name}`);
        return { ...b, x, task: await submit(b.command(x)) };
      }),
    );
    for (const { task, refusal, x } of submitted) {
      const t = await finished(task.id);
      expect(t).toMatchObject({ status: 'dead', attempt: 1 });
      expect(t.error).toContain(
        `${refusal} is not allowed with --shell-allow: the command runs without a shell`,
      );
      expect(existsSync(x)).toBe(false);
    }
  });

  it('runs an allowed command with quoting intact', async () => {
    const file = marker('worker file');
    writeFileSync(file, '');
    const t = await finished((await submit(`ls '${file}'`)).id);
    expect(t).toMatchObject({ status: 'succeeded', result: { exit_code: 0, stdout: `${file}\n` } });
  });

  it("gives `env` neither the worker's token nor its DATABASE_URL, but the named variable", async () => {
    const t = await finished((await submit('env')).id);
    expect(t.status).toBe('succeeded');
    const stdout = t.result?.stdout ?? '';
    const env = parseEnv(stdout);
    expect(env.has('TASKQ_TOKEN')).toBe(false);
    expect(env.has('DATABASE_URL')).toBe(false);
    expect(stdout).not.toContain(SECRET_TOKEN);
    expect(stdout).not.toContain(databaseUrl());
    expect(env.get(NAMED)).toBe('named value');
    expect(env.get('TASKQ_TASK_ID')).toBe(t.id);
  });

  it('will not start when --shell-env names TASKQ_TOKEN', async () => {
    const args = [
      'worker',
      '--allow-shell',
      '--shell-env',
      'TASKQ_TOKEN',
      '--coordinator',
      '127.0.0.1:9',
    ];
    const r = await new Promise<{ failed: boolean; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, _stdout, stderr) =>
        resolve({ failed: err !== null, stderr }),
      ),
    );
    expect(r.failed).toBe(true);
    expect(r.stderr).toContain('lists TASKQ_TOKEN, which is never passed to shell commands');
  });
});
