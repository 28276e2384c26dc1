import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinator, startScheduler, startWorker } from '../helpers/cluster.js';
import { useSchema } from '../helpers/db.js';
import { hasScript, runCli, runOnTerminal, type CliRun } from '../helpers/cli.js';
import { CLI } from '../helpers/processes.js';
import { restCall } from '../helpers/rest.js';

/**
 * `taskq workflow …` as a user runs it: the built CLI as a child process, against a
 * scheduler, a coordinator and a worker that are processes of their own. The worker serves
 * the queue `cliwf` with the shared test handlers (stamp, fail, hold); tasks that must stay
 * put go to `cliwf-idle`, which no worker serves.
 */

const db = await useSchema();
const dir = mkdtempSync(join(tmpdir(), 'taskq-cli-workflow-'));
let api = '';

beforeAll(async () => {
  const coordinator = await startCoordinator(db.schema, { scope: 'file' });
  api = `http://127.0.0.1:${(await startScheduler(db.schema, 'file')).httpPort}`;
  await startWorker(db.schema, coordinator.grpcPort, { queue: 'cliwf', scope: 'file' });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `taskq <args>` against this file's cluster (TASKQ_URL), with `stdin` if given. */
function taskq(args: string[], stdin?: string): Promise<CliRun> {
  return runCli(api, args, stdin === undefined ? {} : { stdin });
}

/** Writes a workflow file into this file's folder and returns its path. */
function file(name: string, body: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  return path;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const idIn = (text: string): string => UUID.exec(text)?.[0] ?? '';

/** fetch, then two loads after both, and on_failure that a success never needs. */
const DIAMOND = {
  name: 'cli diamond',
  tasks: [
    { key: 'fetch', command: 'stamp', queue: 'cliwf' },
    { key: 'left', command: 'hold', queue: 'cliwf', payload: { ms: 200 }, depends_on: ['fetch'] },
    { key: 'right', command: 'stamp', queue: 'cliwf', depends_on: ['fetch'] },
    { key: 'join', command: 'stamp', queue: 'cliwf', depends_on: ['left', 'right'] },
  ],
  on_failure: { command: 'stamp', queue: 'cliwf' },
};

/** A workflow that stays running: one task no worker serves. */
const PARKED = {
  name: 'parked',
  tasks: [
    { key: 'parked', command: 'stamp', queue: 'cliwf-idle' },
    { key: 'after', command: 'stamp', queue: 'cliwf', depends_on: ['parked'] },
  ],
};

async function workflow(id: string) {
  return (await restCall(api, 'GET', `/v1/workflows/${id}`)).body;
}

describe('taskq workflow submit', () => {
  it('submits a file and prints the workflow id; --json prints the workflow', async () => {
    const path = file('diamond.json', DIAMOND);
    const r = await taskq(['workflow', 'submit', path]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^submitted: [0-9a-f-]{36} \(cli diamond\): running, 4 tasks \(\d blocked, .+\)\n$/,
    );
    const stored = await workflow(idIn(r.stdout));
    expect(stored.tasks.map((t: { key: string }) => t.key)).toEqual([
      'fetch',
      'left',
      'right',
      'join',
      '$on_failure',
    ]);

    const json = await taskq(['workflow', 'submit', path, '--json']);
    expect(json.code).toBe(0);
    const w = JSON.parse(json.stdout);
    expect(w).toMatchObject({ name: 'cli diamond', status: 'running' });
    expect(w.id).not.toBe(idIn(r.stdout));
  });

  it('reads stdin with -, and --idempotency-key returns the existing workflow the second time', async () => {
    const body = JSON.stringify(PARKED);
    const first = await taskq(['workflow', 'submit', '-', '--idempotency-key', 'cli-wf-1'], body);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^submitted: /);
    const again = await taskq(['workflow', 'submit', '-', '--idempotency-key', 'cli-wf-1'], body);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^already submitted \(same idempotency key\): /);
    expect(idIn(again.stdout)).toBe(idIn(first.stdout));
    expect((await workflow(idIn(first.stdout))).idempotency_key).toBe('cli-wf-1');
    await restCall(api, 'POST', `/v1/workflows/${idIn(first.stdout)}/cancel`);
  });

  it('--wait follows it to the end: exit 0 with a line per task when it succeeds', async () => {
    const r = await taskq(['workflow', 'submit', file('wait-ok.json', DIAMOND), '--wait']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^submitted: [0-9a-f-]{36}$/);
    expect(lines).toContain('join succeeded');
    expect(lines).toContain('left running (attempt 1)');
    // join ends after both its parents have succeeded, in the order the lines say (its
    // running line may fold into its success: a no-op can end before the view redraws).
    expect(lines.indexOf('join succeeded')).toBeGreaterThan(lines.indexOf('left succeeded'));
    expect(lines.indexOf('join succeeded')).toBeGreaterThan(lines.indexOf('right succeeded'));
    expect(lines.at(-1)).toMatch(/^succeeded in \S+ \(4 succeeded\)$/);
    expect(r.stdout).not.toContain('\r');
  });

  it('--wait exits 1 when a task ends dead, naming it and its error', async () => {
    const r = await taskq([
      'workflow',
      'submit',
      file('wait-dead.json', {
        tasks: [
          {
            key: 'charge',
            command: 'fail',
            queue: 'cliwf',
            max_attempts: 1,
            payload: { message: 'card declined' },
          },
          { key: 'email', command: 'stamp', queue: 'cliwf', depends_on: ['charge'] },
        ],
      }),
      '--wait',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^charge dead: card declined$/m);
    expect(r.stdout).toMatch(/^email cancelled: not run: charge ended dead$/m);
    expect(r.stdout).toMatch(
      /^failed after \S+ \(1 dead, 1 cancelled\): charge dead \(card declined\)$/m,
    );
  });

  it('names the line and column of a file that is not JSON, and exits 2', async () => {
    const path = file(
      'broken.json',
      '{\n  "tasks": [\n    {"key": "a", "command": "stamp",}\n  ]\n}\n',
    );
    const r = await taskq(['workflow', 'submit', path]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `taskq: ${path} is not JSON: line 3, column 37: a property name in double quotes, found '}'; the workflow must be one JSON document\n`,
    );
    const missing = await taskq(['workflow', 'submit', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /^taskq: cannot read the workflow from .*nope\.json: no such file\n$/,
    );
  });

  it("passes on the server's 400, naming the field and the file, and exits 2", async () => {
    const path = file('cycle.json', {
      tasks: [
        { key: 'a', command: 'stamp', depends_on: ['b'] },
        { key: 'b', command: 'stamp', depends_on: ['zz'] },
      ],
    });
    const r = await taskq(['workflow', 'submit', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`taskq: tasks.1.depends_on.0: no task has the key "zz" (in ${path})\n`);
  });
});

describe('taskq workflow get, ls, cancel and watch', () => {
  it('get shows every task with its status, dependencies and attempts; --json parses', async () => {
    const submitted = await taskq(['workflow', 'submit', file('get.json', DIAMOND), '--wait']);
    const id = idIn(submitted.stdout);
    const r = await taskq(['workflow', 'get', id]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^status +succeeded$/m);
    expect(r.stdout).toMatch(/^tasks +4 succeeded$/m);
    const lines = r.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('KEY'));
    expect(header).toMatch(/^KEY +STATUS +ATTEMPTS +DEPENDS ON +TASK +COMMAND$/);
    expect(r.stdout).toMatch(/^fetch +succeeded +1 +- +…[0-9a-f]{8} +stamp$/m);
    expect(r.stdout).toMatch(/^join +succeeded +1 +left, right +…[0-9a-f]{8} +stamp$/m);
    expect(r.stdout).toMatch(
      /^on_failure +cancelled +0 +\(runs if a task fails\) +…[0-9a-f]{8} +stamp$/m,
    );
    // An on_failure task that was not needed is no error.
    expect(r.stdout).not.toMatch(/^errors$/m);

    // The short id, as tables show it, works too.
    const json = await taskq(['workflow', 'status', `…${id.slice(-8)}`, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ id, status: 'succeeded' });
  });

  it('get says when a workflow is unknown, and exits 2', async () => {
    const unknown = '01a20000-0000-7000-8000-000000000000';
    const r = await taskq(['workflow', 'get', unknown]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`taskq: no workflow with id ${unknown}\n`);
    const short = await taskq(['workflow', 'get', 'abcdef12']);
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(
      /^taskq: no workflow among the newest 2000 has an id matching "abcdef12"; give the full id/,
    );
    const bad = await taskq(['workflow', 'get', 'not-an-id']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^taskq: <id> must be a workflow id/);
  });

  it('ls lists workflows newest first, pages with --limit, and --all --json follows every page', async () => {
    const ids: string[] = [];
    for (const name of ['ls-1', 'ls-2', 'ls-3'])
      ids.push(
        idIn(
          (await taskq(['workflow', 'submit', '-'], JSON.stringify({ ...PARKED, name }))).stdout,
        ),
      );
    const r = await taskq(['workflow', 'ls', '--limit', '2']);
    expect(r.code).toBe(0);
    const [header, first, second, rest] = r.stdout.split('\n');
    expect(header).toMatch(/^ID +STATUS +CREATED +TASKS +NAME$/);
    expect(first).toMatch(
      new RegExp(`^…${ids[2]?.slice(-8)} +running +(now|\\d+s ago) +1 blocked, 1 pending +ls-3$`),
    );
    expect(second).toMatch(/ ls-2$/);
    expect(rest).toBe('');
    expect(r.stderr).toMatch(/^\(2 shown; more with --all, or --cursor \S+\)\n$/);

    const all = await taskq(['workflows', '--all', '--limit', '2', '--json']);
    const listed = JSON.parse(all.stdout) as { items: Array<{ id: string }>; next_cursor: null };
    expect(listed.next_cursor).toBeNull();
    const order = listed.items.map((w) => w.id);
    expect(order.indexOf(ids[2] as string)).toBeLessThan(order.indexOf(ids[0] as string));
    for (const id of ids) await restCall(api, 'POST', `/v1/workflows/${id}/cancel`);

    const bad = await taskq(['workflow', 'ls', '--limit', '500']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('taskq: --limit must be from 1 to 200 (got 500)\n');
  });

  it('cancel cancels a running workflow; a second cancel is refused', async () => {
    const id = idIn((await taskq(['workflow', 'submit', file('cancel.json', PARKED)])).stdout);
    const r = await taskq(['workflow', 'cancel', id]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${id} cancelled (2 cancelled)\n`);
    const w = await workflow(id);
    expect(w.status).toBe('cancelled');
    expect(w.tasks.every((t: { status: string }) => t.status === 'cancelled')).toBe(true);
    const again = await taskq(['workflow', 'cancel', id]);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(`taskq: workflow ${id} already cancelled and cannot be cancelled\n`);
  });

  it('watch follows a workflow live: exit 0 when it succeeds', async () => {
    const held = {
      name: 'watched',
      tasks: [
        { key: 'slow', command: 'hold', queue: 'cliwf', payload: { ms: 1500 } },
        // It holds too, so its running state lasts long enough to be seen on a busy machine.
        {
          key: 'then',
          command: 'hold',
          queue: 'cliwf',
          payload: { ms: 600 },
          depends_on: ['slow'],
        },
      ],
    };
    const id = idIn((await taskq(['workflow', 'submit', file('watch.json', held)])).stdout);
    const r = await taskq(['workflow', 'watch', id]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^workflow ${id} \\(watched\\): running, 2 tasks`));
    expect(lines).toContain('then running (attempt 1)');
    expect(lines).toContain('then succeeded');
    expect(lines.at(-1)).toMatch(/^succeeded in \S+ \(2 succeeded\)$/);
  });

  it('watch exits 1 when the workflow is cancelled while it watches; --json prints a workflow a line', async () => {
    const id = idIn(
      (await taskq(['workflow', 'submit', file('watch-cancel.json', PARKED)])).stdout,
    );
    const watching = spawn(process.execPath, [CLI, 'workflow', 'watch', id, '--json'], {
      env: { ...process.env, TASKQ_URL: api, NO_COLOR: '1' },
    });
    let stdout = '';
    watching.stdout.on('data', (c: Buffer) => {
      const first = stdout === '';
      stdout += c.toString();
      // Cancel once the watch has shown the workflow running, so it sees the change live.
      if (first) void restCall(api, 'POST', `/v1/workflows/${id}/cancel`);
    });
    const killer = setTimeout(() => watching.kill(), 20_000);
    const [code] = (await once(watching, 'close')) as [number];
    clearTimeout(killer);
    expect(code).toBe(1);
    const events = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; status: string });
    expect(events[0]).toMatchObject({ id, status: 'running' });
    expect(events.at(-1)).toMatchObject({ id, status: 'cancelled' });
  });
});

describe('taskq schedules with a workflow', () => {
  it('adds a schedule that starts a workflow, lists its kind, and triggers it', async () => {
    const path = file('scheduled.json', {
      name: 'nightly etl',
      tasks: [
        { key: 'extract', command: 'stamp', queue: 'cliwf' },
        { key: 'load', command: 'stamp', queue: 'cliwf', depends_on: ['extract'] },
      ],
    });
    const added = await taskq(['schedules', 'add', 'etl', '0 3 * * *', '--workflow', path]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(
      /^schedule etl: active, "0 3 \* \* \*" in UTC, starts workflow nightly etl \(2 tasks\); next: /,
    );
    const ls = await taskq(['schedules']);
    expect(ls.stdout).toMatch(/^NAME +STATE +CRON +NEXT RUN +LAST RUN +KIND +QUEUE +STARTS$/m);
    expect(ls.stdout).toMatch(
      /^etl +active +0 3 \* \* \* +\S+ \(in \S+\) +never +workflow +- +nightly etl \(2 tasks\)$/m,
    );

    const triggered = await taskq(['schedules', 'trigger', 'etl']);
    expect(triggered.code).toBe(0);
    const id = triggered.stdout.trim();
    expect(triggered.stderr).toBe(`(a workflow: taskq workflow watch ${id})\n`);
    const watched = await taskq(['workflow', 'watch', id]);
    expect(watched.code).toBe(0);
    expect((await workflow(id)).name).toBe('nightly etl');

    const both = await taskq(['schedules', 'add', 'x', '* * * * *', 'echo', '--workflow', path]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^taskq: give a command or --workflow <file>, not both/);
    const neither = await taskq(['schedules', 'add', 'x', '* * * * *']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/^taskq: give the command each tick runs, or --workflow <file>/);
    const withQueue = await taskq([
      'schedules',
      'add',
      'x',
      '* * * * *',
      '--workflow',
      path,
      '--queue',
      'q',
    ]);
    expect(withQueue.code).toBe(2);
    expect(withQueue.stderr).toMatch(
      /^taskq: queue is a field of a task schedule.* \(--queue\)\n$/,
    );
  });
});

describe('on a terminal', () => {
  it.skipIf(!hasScript)('watch redraws a status line in place under the task lines', async () => {
    const path = file('tty.json', {
      tasks: [
        { key: 'slow', command: 'hold', queue: 'cliwf', payload: { ms: 1200 } },
        // It holds too, so the line is redrawn while one of the two has ended.
        {
          key: 'then',
          command: 'hold',
          queue: 'cliwf',
          payload: { ms: 800 },
          depends_on: ['slow'],
        },
      ],
    });
    const r = await runOnTerminal(['workflow', 'submit', path, '--wait', '--url', api], 120);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\r\x1b[2K');
    // The status line: spinner, status, a bar of the tasks that ended, the counts.
    expect(r.stdout).toMatch(/running.*░{24}.*0\/2 ended/);
    expect(r.stdout).toMatch(/█{12}░{12}.*1\/2 ended/);
    expect(r.stdout).toMatch(/succeeded.* in /);
  });
});
