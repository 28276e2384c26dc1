import type { Command } from 'commander';
import { isTerminal, type SubmitTask, type Task, type TaskQueueClient } from '../client/index.js';
import {
  clientFor,
  clientOptions,
  durationFlag,
  exitWithError,
  flagsOf,
  intFlag,
  jsonFlag,
  statusFlag,
  timeFlag,
  usageErrors,
  type ClientFlags,
  type FieldFlags,
} from './client-options.js';
import { compactJson, details, paint, relativeTime, shortId, table, useColor } from './format.js';
import { TaskProgressView, outcomeText } from './format-progress.js';
import { resolveShortId } from './short-ids.js';
import { labelsFlag } from './queue-flags.js';

const SUBMIT_FIELDS: FieldFlags = {
  command: '<command>',
  payload: '--payload',
  queue: '--queue',
  priority: '--priority',
  run_at: '--run-at',
  max_attempts: '--max-attempts',
  timeout_ms: '--timeout',
  idempotency_key: '--idempotency-key',
  concurrency_key: '--concurrency-key',
  requires: '--requires',
  rate_key: '--rate-key',
  group: '--group',
  sticky_key: '--sticky-key',
};
const LIST_FIELDS: FieldFlags = {
  status: '--status',
  queue: '--queue',
  command: '--command',
  idempotency_key: '--key',
  limit: '--limit',
  cursor: '--cursor',
  id: '<id>',
};

const out = (text: string): boolean => process.stdout.write(text);
const printJson = (value: unknown): boolean => out(`${JSON.stringify(value, null, 2)}\n`);

/** A task id as typed: the full id, or the short form `taskq ls` shows. */
function resolveId(client: TaskQueueClient, typed: string): Promise<string> {
  return resolveShortId(typed, {
    noun: 'task',
    listCommand: 'taskq ls --json',
    ids: async function* () {
      for await (const t of client.listAll({ limit: 500 })) yield t.id;
    },
  });
}

/**
 * Follows a task live until it is terminal: a progress bar on a terminal, plain lines
 * otherwise, or (with --json) one JSON event a line. Resolves with the final task.
 */
async function follow(client: TaskQueueClient, id: string, json: boolean): Promise<Task> {
  const stop = new AbortController();
  const view = json ? undefined : new TaskProgressView(process.stdout);
  const onSignal = (): void => {
    view?.stop();
    stop.abort(Object.assign(new Error('interrupted'), { name: 'Interrupted' }));
  };
  process.once('SIGINT', onSignal);
  try {
    const events = client.watch(id, { signal: stop.signal });
    for (;;) {
      const next = await events.next();
      if (next.done) return next.value;
      const e = next.value;
      if (json) out(`${JSON.stringify(e)}\n`);
      else if (e.type === 'task') view?.update(e.task);
      else view?.progress(e);
    }
  } finally {
    process.off('SIGINT', onSignal);
    view?.stop();
  }
}

/** Exit status after waiting: 0 when the task succeeded, 1 when it died or was cancelled. */
const exitFor = (t: Task): number => (t.status === 'succeeded' ? 0 : 1);

/** A worker as people know it: its name, with the start of its id to tell twins apart. */
function workerLabel(id: string, name: string | null | undefined): string {
  return name ? `${name} (${shortId(id)})` : shortId(id);
}

function taskDetails(t: Task, color: boolean): string {
  const attempts = (t.attempts ?? []).map(
    (a) =>
      `  #${a.attempt} ${a.outcome}${a.worker_id ? ` on ${workerLabel(a.worker_id, a.worker_name)}` : ''} ${relativeTime(a.finished_at)}${a.error ? `: ${a.error}` : ''}`,
  );
  const progress = t.progress
    ? `${t.progress.percent}%${t.progress.message ? ` ${t.progress.message}` : ''}`
    : undefined;
  return (
    details([
      ['id', t.id],
      [
        'status',
        `${paint(t.status, t.status, color)} (${t.attempt === 0 ? `not started; up to ${t.max_attempts} attempts` : `attempt ${t.attempt} of ${t.max_attempts}`})`,
      ],
      ['waiting', t.status === 'pending' ? t.waiting_for : undefined],
      ['progress', t.status === 'running' ? progress : undefined],
      ['command', t.command],
      ['payload', t.payload === null ? undefined : compactJson(t.payload)],
      ['queue', `${t.queue} (priority ${t.priority})`],
      ['run at', `${t.run_at} (${relativeTime(t.run_at)})`],
      ['created', `${t.created_at} (${relativeTime(t.created_at)})`],
      ['started', t.started_at ? `${t.started_at} (${relativeTime(t.started_at)})` : undefined],
      ['finished', finishedAt(t)],
      ['worker', t.worker_id ? workerLabel(t.worker_id, t.worker_name) : undefined],
      ['idempotency key', t.idempotency_key ?? undefined],
      ['concurrency key', t.concurrency_key ?? undefined],
      [
        'requires',
        t.requires
          ? Object.entries(t.requires)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ')
          : undefined,
      ],
      ['rate key', t.rate_key ?? undefined],
      ['group', t.group ?? undefined],
      ['sticky key', t.sticky_key ?? undefined],
      [
        'result',
        t.result === null || t.result === undefined ? undefined : compactJson(t.result, 500),
      ],
      ['error', t.error ?? undefined],
    ]) + (attempts.length ? `attempts\n${attempts.join('\n')}\n` : '')
  );
}

function finishedAt(t: Task): string | undefined {
  const at = t.completed_at ?? t.failed_at ?? t.cancelled_at;
  return at ? `${at} (${relativeTime(at)})` : undefined;
}

/** `taskq submit`, `status`, `ls`, `cancel` and `retry`. */
export function registerTaskCommands(program: Command): void {
  const submit = program
    .command('submit')
    .description('submit a task: the first word of <command> names the handler')
    .argument('<command...>', 'the command, e.g. `echo hi` (put -- before words that start with -)')
    .option('--payload <json>', 'structured input as JSON, or @file to read it from a file')
    .option('-q, --queue <name>', 'queue (default: default)')
    .option('-p, --priority <n>', 'higher runs first, -1000 to 1000 (default: 0)')
    .option(
      '--run-at <time>',
      'when to run, RFC 3339, e.g. 2030-12-24T22:34:00+05:30 (default: now)',
    )
    .option('--max-attempts <n>', "attempts in all (default: the queue's, else 3)")
    .option('--timeout <duration>', 'per attempt, e.g. 30s or 5m (default: none)')
    .option('--idempotency-key <key>', 'submitting the same key again returns the existing task')
    .option(
      '--concurrency-key <key>',
      "tasks sharing a key run at most the queue's key concurrency limit at a time",
    )
    .option(
      '--requires <label=value>',
      'a label a worker must have to be handed the task, e.g. gpu=true; repeatable',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--rate-key <key>', "tasks sharing a key start at most the queue's key rate limit")
    .option(
      '--group <group>',
      "the task's group (a tenant, a customer) in the queue's round robin of groups",
    )
    .option(
      '--sticky-key <key>',
      'tasks sharing a key prefer the worker that ran the last one, while it has a free slot',
    )
    .option('-w, --wait', 'follow the task until it finishes; exit 0 if it succeeded, 1 if not');
  clientOptions(usageErrors(submit)).action(async (words: string[], _o, cmd: Command) => {
    const f = flagsOf<
      ClientFlags & {
        payload?: string;
        queue?: string;
        priority?: string;
        runAt?: string;
        maxAttempts?: string;
        timeout?: string;
        idempotencyKey?: string;
        concurrencyKey?: string;
        requires?: string[];
        rateKey?: string;
        group?: string;
        stickyKey?: string;
        wait?: boolean;
      }
    >(cmd);
    try {
      const body: SubmitTask = { command: words.join(' ') };
      const payload = jsonFlag(f.payload, '--payload');
      if (payload !== undefined) body.payload = payload;
      if (f.queue !== undefined) body.queue = f.queue;
      const priority = intFlag(f.priority, '--priority', -1000, 1000);
      if (priority !== undefined) body.priority = priority;
      const runAt = timeFlag(f.runAt, '--run-at');
      if (runAt !== undefined) body.run_at = runAt;
      const maxAttempts = intFlag(f.maxAttempts, '--max-attempts', 1, 100);
      if (maxAttempts !== undefined) body.max_attempts = maxAttempts;
      const timeout = durationFlag(f.timeout, '--timeout', 1);
      if (timeout !== undefined) body.timeout_ms = timeout;
      if (f.idempotencyKey !== undefined) body.idempotency_key = f.idempotencyKey;
      if (f.concurrencyKey !== undefined) body.concurrency_key = f.concurrencyKey;
      const requires = labelsFlag(f.requires, '--requires');
      if (requires !== undefined) body.requires = requires;
      if (f.rateKey !== undefined) body.rate_key = f.rateKey;
      if (f.group !== undefined) body.group = f.group;
      if (f.stickyKey !== undefined) body.sticky_key = f.stickyKey;
      const client = clientFor(f);
      const { task, created } = await client.submitDetailed(body);
      if (!f.wait) {
        if (f.json) printJson(task);
        else
          out(
            `${created ? 'submitted' : 'already submitted (same idempotency key)'}: ${task.id} (queue ${task.queue}, ${task.status}${Date.parse(task.run_at) > Date.now() + 1000 ? `, runs ${relativeTime(task.run_at)}` : ''})\n`,
          );
        return;
      }
      if (!f.json) out(`${created ? 'submitted' : 'already submitted'}: ${task.id}\n`);
      const final = isTerminal(task.status) ? task : await follow(client, task.id, false);
      if (f.json) printJson(final);
      else out(outcomeText(final, useColor(process.stdout)));
      process.exitCode = exitFor(final);
    } catch (err) {
      exitWithError(err, f, SUBMIT_FIELDS);
    }
  });

  const status = program
    .command('status')
    .description('show a task: status, attempts, result or error (--watch follows it live)')
    .argument('<id>', 'task id (the short form from `taskq ls` works too)')
    .option('-w, --watch', 'follow it until it finishes; exit 0 if it succeeded, 1 if not');
  clientOptions(usageErrors(status)).action(async (typed: string, _o, cmd: Command) => {
    const f = flagsOf<ClientFlags & { watch?: boolean }>(cmd);
    try {
      const client = clientFor(f);
      const id = await resolveId(client, typed);
      if (f.watch) {
        const final = await follow(client, id, Boolean(f.json));
        if (!f.json) out(outcomeText(final, useColor(process.stdout)));
        process.exitCode = exitFor(final);
        return;
      }
      const task = await client.get(id);
      if (f.json) printJson(task);
      else out(taskDetails(task, useColor(process.stdout)));
    } catch (err) {
      exitWithError(err, f, LIST_FIELDS);
    }
  });

  const ls = program
    .command('ls')
    .description('list tasks, newest first')
    .option(
      '-s, --status <status>',
      'only pending, running, succeeded, dead or cancelled (or blocked, waiting: workflow tasks)',
    )
    .option('-q, --queue <name>', 'only this queue')
    .option('-c, --command <text>', 'one word: this handler; with spaces: this exact command')
    .option('-k, --key <idempotency key>', 'the task submitted with this idempotency key')
    .option('-n, --limit <n>', 'how many to show, 1 to 500 (with --all: per page)', '50')
    .option('-a, --all', 'every matching task, page after page')
    .option('--cursor <cursor>', 'continue after a previous page');
  clientOptions(usageErrors(ls)).action(async (_o, cmd: Command) => {
    const f = flagsOf<
      ClientFlags & {
        status?: string;
        queue?: string;
        command?: string;
        key?: string;
        limit?: string;
        all?: boolean;
        cursor?: string;
      }
    >(cmd);
    try {
      const filter = {
        ...(f.status !== undefined ? { status: statusFlag(f.status) } : {}),
        ...(f.queue !== undefined ? { queue: f.queue } : {}),
        ...(f.command !== undefined ? { command: f.command } : {}),
        ...(f.key !== undefined ? { idempotency_key: f.key } : {}),
        limit: intFlag(f.limit, '--limit', 1, 500) ?? 50,
      };
      const client = clientFor(f);
      let items: Task[];
      let next: string | null = null;
      if (f.all) {
        items = [];
        for await (const t of client.listAll(filter)) items.push(t);
      } else {
        const page = await client.list({ ...filter, ...(f.cursor ? { cursor: f.cursor } : {}) });
        items = page.items;
        next = page.next_cursor;
      }
      if (f.json) return void printJson({ items, next_cursor: next });
      if (items.length === 0) return void out('no tasks match\n');
      const color = useColor(process.stdout);
      const rows = items.map((t) => [
        shortId(t.id),
        paint(t.status, t.status, color) +
          (t.status === 'pending' && Date.parse(t.run_at) > Date.now() + 1000
            ? ` (${relativeTime(t.run_at)})`
            : ''),
        t.queue,
        `${t.attempt}/${t.max_attempts}`,
        relativeTime(t.created_at),
        t.command,
      ]);
      out(
        table(['id', 'status', 'queue', 'attempt', 'created', 'command'], rows, {
          color,
          ...(process.stdout.isTTY ? { maxWidth: process.stdout.columns || 80 } : {}),
        }),
      );
      if (next)
        process.stderr.write(`(${items.length} shown; more with --all, or --cursor ${next})\n`);
    } catch (err) {
      exitWithError(err, f, LIST_FIELDS);
    }
  });

  const cancel = program
    .command('cancel')
    .description('cancel a task that has not ended (a running handler is aborted)')
    .argument('<id>', 'task id (the short form from `taskq ls` works too)');
  clientOptions(usageErrors(cancel)).action(async (typed: string, _o, cmd: Command) => {
    const f = flagsOf<ClientFlags>(cmd);
    try {
      const client = clientFor(f);
      const task = await client.cancel(await resolveId(client, typed));
      if (f.json) printJson(task);
      else out(`${task.id} ${paint(task.status, task.status, useColor(process.stdout))}\n`);
    } catch (err) {
      exitWithError(err, f, LIST_FIELDS);
    }
  });

  const runNow = program
    .command('run-now')
    .description('make a pending task that waits for its run_at or a retry backoff due now')
    .argument('<id>', 'task id (the short form from `taskq ls` works too)');
  clientOptions(usageErrors(runNow)).action(async (typed: string, _o, cmd: Command) => {
    const f = flagsOf<ClientFlags>(cmd);
    try {
      const client = clientFor(f);
      const task = await client.runNow(await resolveId(client, typed));
      if (f.json) printJson(task);
      else
        out(`${task.id} ${paint(task.status, task.status, useColor(process.stdout))}, due now\n`);
    } catch (err) {
      exitWithError(err, f, LIST_FIELDS);
    }
  });

  const retry = program
    .command('retry')
    .description('send a dead or cancelled task back to pending, with fresh attempts')
    .argument('<id>', 'task id (the short form from `taskq ls` works too)')
    .option('--max-attempts <n>', "attempts to allow from now on (default: the queue's, else 3)");
  clientOptions(usageErrors(retry)).action(async (typed: string, _o, cmd: Command) => {
    const f = flagsOf<ClientFlags & { maxAttempts?: string }>(cmd);
    try {
      const maxAttempts = intFlag(f.maxAttempts, '--max-attempts', 1, 100);
      const client = clientFor(f);
      const task = await client.retry(await resolveId(client, typed), {
        ...(maxAttempts !== undefined ? { max_attempts: maxAttempts } : {}),
      });
      if (f.json) printJson(task);
      else
        out(
          `${task.id} ${paint(task.status, task.status, useColor(process.stdout))} again, ${task.max_attempts - task.attempt} more attempt${task.max_attempts - task.attempt === 1 ? '' : 's'}\n`,
        );
    } catch (err) {
      exitWithError(err, f, { ...LIST_FIELDS, max_attempts: '--max-attempts' });
    }
  });
}
