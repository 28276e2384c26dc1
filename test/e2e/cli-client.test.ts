import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { startCoordinator, startScheduler, startWorker } from '../helpers/cluster.js';
import { hasScript, runCli, runOnTerminal, type CliRun } from '../helpers/cli.js';
import { CLI } from '../helpers/processes.js';

/**
 * The `taskq` client commands as a user runs them: the built CLI as a child process, against
 * a scheduler, a coordinator and a worker that are separate processes too. Tasks for the
 * worker go to the queue `cli`; tasks that must stay put go to queues no worker serves.
 */

const db = await useSchema();
const dir = mkdtempSync(join(tmpdir(), 'taskq-cli-'));
let api = '';

// A handler that reports progress, loaded by the worker beside the shared test handlers.
const HANDLERS = join(dir, 'progress-handlers.mjs');
writeFileSync(
  HANDLERS,
  `const wait = (ms) => new Promise((r) => setTimeout(r, ms));
export default {
  steps: async (_payload, ctx) => {
    // Time for the CLI to open its event stream: progress sent before that is not replayed.
    await wait(1000);
    ctx.progress(25, 'fetching');
    await wait(400);
    ctx.progress(75, 'writing');
    await wait(400);
    return { steps: 2 };
  },
};
`,
);

beforeAll(async () => {
  const coordinator = await startCoordinator(db.schema, { scope: 'file' });
  const scheduler = await startScheduler(db.schema, 'file');
  api = `http://127.0.0.1:${scheduler.httpPort}`;
  await startWorker(db.schema, coordinator.grpcPort, {
    queue: 'cli',
    name: 'cli-worker',
    extra: ['--handlers', HANDLERS],
    scope: 'file',
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `taskq <args>` against this file's cluster (TASKQ_URL) and waits for it to exit. */
function taskq(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(api, args, { env });
}

/** Submits over REST, for tasks a test needs but does not submit through the CLI. */
async function submitTask(body: object): Promise<string> {
  const res = await fetch(`${api}/v1/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const idIn = (text: string): string => UUID.exec(text)?.[0] ?? '';

describe('taskq submit', () => {
  it('--wait exits 0 when the task succeeds, and shows the result', async () => {
    const r = await taskq(['submit', 'echo', 'hello', 'there', '--queue', 'cli', '--wait']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^submitted: [0-9a-f-]{36}\n/);
    expect(r.stdout).toMatch(/^succeeded in .* \(attempt 1 of 3\)$/m);
    expect(r.stdout).toMatch(/^result: \{.*"message":"hello there"/m);
  });

  it('--wait exits 1 when the task ends dead, and shows its error', async () => {
    const r = await taskq([
      'submit',
      'fail',
      '--queue',
      'cli',
      '--max-attempts',
      '1',
      '--payload',
      '{"message":"disk on fire"}',
      '--wait',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^dead after 1 attempt .*disk on fire/m);
  });

  it('--wait shows the handler progress as plain lines when stdout is not a terminal', async () => {
    const r = await taskq(['submit', 'steps', '--queue', 'cli', '--wait']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toContain('running (attempt 1 of 3) 25% fetching');
    expect(lines).toContain('running (attempt 1 of 3) 75% writing');
    expect(r.stdout).not.toContain('\r');
    expect(r.stdout).toContain('result: {"steps":2}');
  });

  it('--json prints the task as the API returns it', async () => {
    const r = await taskq([
      'submit',
      'resize',
      'photo.png',
      '--queue',
      'cli-idle',
      '--priority',
      '5',
      '--payload',
      '{"width":800}',
      '--run-at',
      '2030-12-24T22:34:00+05:30',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const task = JSON.parse(r.stdout);
    expect(task).toMatchObject({
      command: 'resize photo.png',
      queue: 'cli-idle',
      priority: 5,
      payload: { width: 800 },
      status: 'pending',
      run_at: '2030-12-24T17:04:00.000Z',
    });
  });

  it('--requires, --rate-key, --group and --sticky-key reach the task, and status shows them and why it waits', async () => {
    const r = await taskq([
      'submit',
      'render',
      '--queue',
      'cli-idle',
      '--requires',
      'gpu=true',
      '--requires',
      'region=eu',
      '--rate-key',
      'acct-7',
      '--group',
      'acme',
      '--sticky-key',
      'cart-5',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const task = JSON.parse(r.stdout) as { id: string };
    expect(task).toMatchObject({
      requires: { gpu: 'true', region: 'eu' },
      rate_key: 'acct-7',
      group: 'acme',
      sticky_key: 'cart-5',
    });
    const status = await taskq(['status', task.id]);
    expect(status.stdout).toMatch(/^requires +gpu=true, region=eu$/m);
    expect(status.stdout).toMatch(/^rate key +acct-7$/m);
    expect(status.stdout).toMatch(/^group +acme$/m);
    expect(status.stdout).toMatch(/^sticky key +cart-5$/m);
    expect(status.stdout).toMatch(
      /^waiting +no connected worker handles 'render' on queue 'cli-idle' with labels gpu=true, region=eu$/m,
    );
  });

  it('rejects a bad flag value with exit 2 and one line naming the flag', async () => {
    const local = await taskq(['submit', 'echo', 'hi', '--priority', 'high']);
    expect(local.code).toBe(2);
    expect(local.stderr).toBe('taskq: --priority must be a whole number (got "high")\n');
    expect(local.stdout).toBe('');

    const time = await taskq(['submit', 'echo', '--run-at', 'tomorrow']);
    expect(time.code).toBe(2);
    expect(time.stderr).toMatch(/^taskq: --run-at must be an RFC 3339 timestamp/);

    // Checked by the server: its 400 names the field, and the CLI names the flag.
    const server = await taskq(['submit', 'echo', '--queue', 'no spaces allowed']);
    expect(server.code).toBe(2);
    expect(server.stderr).toMatch(/^taskq: queue .*\(--queue\)\n$/);

    const pair = await taskq(['submit', 'echo', '--requires', 'gpu']);
    expect(pair.code).toBe(2);
    expect(pair.stderr).toBe('taskq: --requires takes name=value, such as gpu=true (got "gpu")\n');
    const label = await taskq(['submit', 'echo', '--requires', 'no spaces=1']);
    expect(label.code).toBe(2);
    expect(label.stderr).toMatch(/^taskq: .*requires\.no spaces.*\(--requires\)\n$/);
    const group = await taskq(['submit', 'echo', '--group', '']);
    expect(group.code).toBe(2);
    expect(group.stderr).toMatch(/^taskq: group must not be empty \(--group\)\n$/);

    const unknown = await taskq(['submit', 'echo', '--prio', '1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^taskq: unknown option '--prio'.*--help/);
  });
});

describe('taskq status, ls, cancel, retry', () => {
  it('status prints the status and details; --json parses', async () => {
    const submitted = await taskq(['submit', 'echo', 'status-check', '--queue', 'cli', '--wait']);
    const id = idIn(submitted.stdout);
    const r = await taskq(['status', id]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^status +succeeded \(attempt 1 of 3\)$/m);
    expect(r.stdout).toMatch(/^command +echo status-check$/m);
    expect(r.stdout).toMatch(/^ +#1 succeeded on cli-worker \(…[0-9a-f]{8}\)/m);
    const json = await taskq(['status', id, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ id, status: 'succeeded' });
  });

  it('status explains why a task waits, and --watch follows it to its end', async () => {
    const id = await submitTask({ command: 'nobody-handles-this', queue: 'cli-idle' });
    const r = await taskq(['status', id]);
    expect(r.stdout).toMatch(/^waiting +no connected worker handles 'nobody-handles-this'/m);

    // Cancel once the watch has shown the pending state, so it sees the change live.
    const watching = spawn(process.execPath, [CLI, 'status', id, '--watch'], {
      env: { ...process.env, TASKQ_URL: api, NO_COLOR: '1' },
    });
    let stdout = '';
    watching.stdout.on('data', (c: Buffer) => {
      const first = stdout === '';
      stdout += c.toString();
      if (first) void fetch(`${api}/v1/tasks/${id}/cancel`, { method: 'POST' });
    });
    const killer = setTimeout(() => watching.kill(), 20_000);
    const [code] = (await once(watching, 'close')) as [number];
    clearTimeout(killer);
    const w = { code, stdout };
    expect(w.code).toBe(1);
    expect(w.stdout).toMatch(/^pending \(no connected worker handles/m);
    expect(w.stdout).toMatch(/^cancelled after /m);
  });

  it('ls shows the task in an aligned table, with a short id that the commands accept', async () => {
    const submitted = await taskq(['submit', 'listed-task', 'arg', '--queue', 'cli-ls']);
    const id = idIn(submitted.stdout);
    const r = await taskq(['ls', '--queue', 'cli-ls']);
    expect(r.code).toBe(0);
    const [header, row] = r.stdout.split('\n');
    expect(header).toMatch(/^ID +STATUS +QUEUE +ATTEMPT +CREATED +COMMAND$/);
    const short = `…${id.slice(-8)}`;
    expect(row).toMatch(
      new RegExp(`^${short} +pending +cli-ls +0/3 +(now|\\d+s ago) +listed-task arg$`),
    );
    expect(header!.indexOf('COMMAND')).toBe(row!.indexOf('listed-task'));

    const json = await taskq(['ls', '--queue', 'cli-ls', '--json']);
    const listed = JSON.parse(json.stdout) as { items: Array<{ id: string }> };
    expect(listed.items.map((t) => t.id)).toEqual([id]);

    const cancelled = await taskq(['cancel', short]);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toBe(`${id} cancelled\n`);
    const again = await taskq(['cancel', id]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^taskq: task .* cannot be cancelled\n$/);
    const retried = await taskq(['retry', id, '--max-attempts', '2']);
    expect(retried.stdout).toBe(`${id} pending again, 2 more attempts\n`);
    const dead = await taskq(['ls', '--queue', 'cli-ls', '--status', 'dead']);
    expect(dead.stdout).toBe('no tasks match\n');
  });

  it('ls --key finds a task by idempotency key, and run-now makes a later task due', async () => {
    const id = await submitTask({
      command: 'later-task',
      queue: 'cli-later',
      run_at: '2031-01-01T00:00:00Z',
      idempotency_key: 'cli-key-1',
    });
    const found = await taskq(['ls', '--key', 'cli-key-1', '--json']);
    expect((JSON.parse(found.stdout) as { items: Array<{ id: string }> }).items).toEqual([
      expect.objectContaining({ id }),
    ]);
    const ran = await taskq(['run-now', `…${id.slice(-8)}`]);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toBe(`${id} pending, due now\n`);
    const task = (await (await fetch(`${api}/v1/tasks/${id}`)).json()) as { run_at: string };
    expect(Date.parse(task.run_at)).toBeLessThanOrEqual(Date.now());
    await taskq(['cancel', id]);
    const refused = await taskq(['run-now', id]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^taskq: task .* is cancelled; .*retry it instead\n$/);
  });

  it('ls pages with --limit, and --all follows every page', async () => {
    for (let i = 0; i < 3; i++) await submitTask({ command: `page-${i}`, queue: 'cli-pages' });
    const one = await taskq(['ls', '--queue', 'cli-pages', '--limit', '2']);
    expect(one.stdout.trim().split('\n')).toHaveLength(3); // header + 2
    expect(one.stderr).toMatch(/^\(2 shown; more with --all, or --cursor \S+\)\n$/);
    const all = await taskq(['ls', '--queue', 'cli-pages', '--limit', '2', '--all', '--json']);
    const every = JSON.parse(all.stdout) as { items: Array<{ command: string }> };
    expect(every.items.map((t) => t.command)).toEqual(['page-2', 'page-1', 'page-0']);
    const bad = await taskq(['ls', '--status', 'done']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^taskq: --status must be one of pending, running/);
  });
});

describe('taskq queues and workers', () => {
  it('pauses, lists, sets and resumes a queue', async () => {
    await submitTask({ command: 'x', queue: 'cli-admin', run_at: '2030-01-01T00:00:00Z' });
    const paused = await taskq(['queues', 'pause', 'cli-admin']);
    expect(paused.stdout).toBe('queue cli-admin paused\n');
    const set = await taskq([
      'queues',
      'set',
      'cli-admin',
      '--max-attempts',
      '5',
      '--backoff',
      '2s',
      '--key-concurrency-limit',
      '2',
    ]);
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/max attempts 5, backoff 2s\.\.5m, limit 2 per key, rate limit -/);
    const table = await taskq(['queues']);
    expect(table.stdout).toMatch(
      /^QUEUE +STATE +DUE +SCHEDULED +RUNNING +DEAD +OLDEST DUE +OK\/FAILED 1M +MAX ATTEMPTS +BACKOFF +LIMIT +RATE LIMIT +GROUP WEIGHTS$/m,
    );
    expect(table.stdout).toMatch(
      /^cli-admin +paused +0 +1 +0 +0 +- +0\/0 +5 +2s\.\.5m +2 per key +- +-$/m,
    );
    const json = await taskq(['queues', '--json']);
    expect(JSON.parse(json.stdout).items).toContainEqual(
      expect.objectContaining({
        name: 'cli-admin',
        paused: true,
        max_attempts: 5,
        backoff_ms: 2000,
      }),
    );
    const resumed = await taskq(['queues', 'resume', 'cli-admin', '--json']);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ name: 'cli-admin', paused: false });
    const bad = await taskq(['queues', 'set', 'cli-admin', '--backoff', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^taskq: --backoff must be a duration/);
  });

  it('sets rate limits and group weights, shows them, and lifts them with none', async () => {
    const set = await taskq([
      'queues',
      'set',
      'cli-rated',
      '--rate-limit',
      '10/s',
      '--key-rate-limit',
      '2/1m',
      '--group-weights',
      'gold=3,free=1',
    ]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/rate limit 10\/1s, 2\/1m per key, group weights free=1,gold=3\n$/);
    const table = await taskq(['queues']);
    expect(table.stdout).toMatch(/^cli-rated +active .* +10\/1s, 2\/1m per key +free=1,gold=3$/m);
    // What the API stored, in its own terms.
    const stored = (await (await fetch(`${api}/v1/queues/cli-rated`)).json()) as object;
    expect(stored).toMatchObject({
      rate_limit: { count: 10, period_ms: 1000 },
      key_rate_limit: { count: 2, period_ms: 60_000 },
      group_weights: { gold: 3, free: 1 },
    });
    const other = await taskq(['queues', 'set', 'cli-rated', '--rate-limit', '5/500ms', '--json']);
    expect(JSON.parse(other.stdout)).toMatchObject({
      rate_limit: { count: 5, period_ms: 500 },
      key_rate_limit: { count: 2, period_ms: 60_000 },
    });
    const lifted = await taskq([
      'queues',
      'set',
      'cli-rated',
      '--rate-limit',
      'none',
      '--key-rate-limit',
      'none',
      '--group-weights',
      'none',
      '--json',
    ]);
    expect(JSON.parse(lifted.stdout)).toMatchObject({
      rate_limit: null,
      key_rate_limit: null,
      group_weights: null,
    });
  });

  it('refuses a bad rate limit or weight with exit 2, naming the flag and what to type', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--rate-limit', '10'], /^taskq: --rate-limit takes starts\/period, such as 10\/s/],
      [['--rate-limit', 'ten/s'], /^taskq: --rate-limit takes starts\/period/],
      [['--rate-limit', '0/s'], /^taskq: --rate-limit: the count must be from 1 to 1000000/],
      [['--key-rate-limit', '5/2d'], /^taskq: --key-rate-limit: the period must be from 1ms to 1d/],
      [['--group-weights', 'gold'], /^taskq: --group-weights takes name=value, such as gold=3/],
      [['--group-weights', 'gold=0'], /^taskq: --group-weights: the weight of gold must be/],
    ];
    for (const [flags, message] of cases) {
      const r = await taskq(['queues', 'set', 'cli-rated-bad', ...flags]);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr, flags.join(' ')).toMatch(message);
      expect(r.stdout).toBe('');
    }
    // Nothing was set.
    const q = (await (await fetch(`${api}/v1/queues/cli-rated-bad`)).json()) as object;
    expect(q).toMatchObject({ rate_limit: null, key_rate_limit: null, group_weights: null });
  });

  it('workers lists the connected worker', async () => {
    const r = await taskq(['workers']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ID +NAME +STATE +RUNNING +LAST SEEN +QUEUES +HANDLERS$/m);
    expect(r.stdout).toMatch(/^…[0-9a-f]{8} +cli-worker +live +\d+\/4 +\S.* +cli +.*steps/m);
  });
});

describe('taskq against a server that says no', () => {
  it('sends --token as a Bearer token, and explains a 401 with exit 2', async () => {
    const seen: Array<string | undefined> = [];
    const server = createHttpServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
      res.end(JSON.stringify({ error: { code: 'unauthenticated', message: 'unknown token' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await taskq(['workers', '--url', url, '--token', 's3cret']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        'taskq: unknown token; pass an API token with --token or TASKQ_TOKEN\n',
      );
      const fromEnv = await taskq(['queues', '--url', url], { TASKQ_TOKEN: 'from-env' });
      expect(fromEnv.code).toBe(2);
      expect(seen).toEqual(['Bearer s3cret', 'Bearer from-env']);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('taskq when the server is away', () => {
  it('says it cannot reach the API and how to fix it', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const r = await taskq(['ls', '--url', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `taskq: cannot reach the Task Queue API at http://127.0.0.1:${port} (connection refused). Is it running? Start one with \`npm start\` (taskq dev), or check --url.\n`,
    );
    const badUrl = await taskq(['ls'], { TASKQ_URL: 'localhost:8081' });
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/^taskq: TASKQ_URL must be an http:\/\/ or https:\/\/ address/);
  });
});

describe('on a terminal', () => {
  it.skipIf(!hasScript)('draws a live progress bar in place', async () => {
    const r = await runOnTerminal(
      ['submit', 'steps', '--queue', 'cli', '--wait', '--url', api],
      100,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\r\x1b[2K');
    expect(r.stdout).toMatch(/█{6}░{18} +25% +fetching/);
    expect(r.stdout).toMatch(/█{18}░{6} +75% +writing/);
    expect(r.stdout).toMatch(/succeeded.* in /);
  });
});
