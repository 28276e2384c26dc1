import type { Command } from 'commander';
import type { Queue, QueueSettings } from '../client/index.js';
import {
  UsageError,
  clientFor,
  clientOptions,
  exitWithError,
  flagsOf,
  intFlag,
  settingFlag,
  usageErrors,
  type ClientFlags,
} from './client-options.js';
import { formatDuration, paint, relativeTime, shortId, table, useColor } from './format.js';
import { groupWeightsFlag, rateLimitFlag, rateText, weightsText } from './queue-flags.js';

const QUEUE_FIELDS = {
  name: '<name>',
  max_attempts: '--max-attempts',
  backoff_ms: '--backoff',
  backoff_max_ms: '--backoff-max',
  concurrency_limit: '--concurrency-limit',
  key_concurrency_limit: '--key-concurrency-limit',
  rate_limit: '--rate-limit',
  key_rate_limit: '--key-rate-limit',
  group_weights: '--group-weights',
};

/** A limit flag: a whole number, or `none` to lift the limit. */
function limitFlag(value: string | undefined, flag: string): number | null | undefined {
  if (value === 'none' || value === 'default') return null;
  return intFlag(value, flag, 1, 1_000_000);
}

const out = (text: string): boolean => process.stdout.write(text);
const printJson = (value: unknown): boolean => out(`${JSON.stringify(value, null, 2)}\n`);
const tableWidth = (): { maxWidth?: number } =>
  process.stdout.isTTY ? { maxWidth: process.stdout.columns || 80 } : {};

const setting = (v: number | null, show: (n: number) => string): string =>
  v === null ? 'default' : show(v);

/** The retry delays: `default`, or first..cap with the server's values filling gaps. */
function backoffText(q: Queue): string {
  if (q.backoff_ms === null && q.backoff_max_ms === null) return 'default';
  return `${formatDuration(q.backoff_ms ?? 1000)}..${formatDuration(q.backoff_max_ms ?? 300_000)}`;
}

/** The concurrency limits: `-` for none, else the queue's and the per-key one. */
function limitText(q: Queue): string {
  const key = q.key_concurrency_limit === null ? '' : `${q.key_concurrency_limit} per key`;
  if (q.concurrency_limit === null) return key || '-';
  return key ? `${q.concurrency_limit}, ${key}` : String(q.concurrency_limit);
}

function queuesTable(items: Queue[]): string {
  const color = useColor(process.stdout);
  const rows = items.map((q) => [
    q.name,
    q.paused ? paint('paused', 'paused', color) : 'active',
    String(q.due),
    String(q.scheduled),
    String(q.running),
    String(q.dead),
    q.oldest_due_age_ms === null ? '-' : formatDuration(q.oldest_due_age_ms),
    `${q.succeeded_last_minute}/${q.failed_last_minute}`,
    setting(q.max_attempts, String),
    backoffText(q),
    limitText(q),
    rateText(q),
    weightsText(q),
  ]);
  const right = 'right' as const;
  return table(
    [
      'queue',
      'state',
      'due',
      'scheduled',
      'running',
      'dead',
      'oldest due',
      'ok/failed 1m',
      'max attempts',
      'backoff',
      'limit',
      'rate limit',
      'group weights',
    ],
    rows,
    {
      color,
      align: ['left', 'left', right, right, right, right, right, right, right, right],
      ...tableWidth(),
    },
  );
}

function queueLine(q: Queue): string {
  return (
    `queue ${q.name}: ${q.paused ? 'paused' : 'active'}; ${q.due} due, ${q.scheduled} scheduled, ${q.running} running, ${q.dead} dead; ` +
    `last minute ${q.succeeded_last_minute} succeeded, ${q.failed_last_minute} failed; ` +
    `max attempts ${setting(q.max_attempts, String)}, backoff ${backoffText(q)}, limit ${limitText(q)}, ` +
    `rate limit ${rateText(q)}, group weights ${weightsText(q)}\n`
  );
}

/** `taskq queues` (with pause, resume and set) and `taskq workers`. */
export function registerAdminCommands(program: Command): void {
  const queues = program
    .command('queues')
    .description('list queues with their depth and retry defaults; pause, resume or set one');
  clientOptions(usageErrors(queues)).action(async (_o, cmd: Command) => {
    const f = flagsOf<ClientFlags>(cmd);
    try {
      const items: Queue[] = await clientFor(f).queues();
      if (f.json) printJson({ items });
      else if (items.length === 0) out('no queues yet: a queue appears with its first task\n');
      else out(queuesTable(items));
    } catch (err) {
      exitWithError(err, f, QUEUE_FIELDS);
    }
  });

  for (const action of ['pause', 'resume'] as const) {
    const sub = queues
      .command(action)
      .description(
        action === 'pause'
          ? 'pause a queue: nothing more is claimed from it; running tasks finish'
          : 'resume a paused queue',
      )
      .argument('<name>', 'queue name');
    clientOptions(usageErrors(sub)).action(async (name: string, _o, cmd: Command) => {
      const f = flagsOf<ClientFlags>(cmd);
      try {
        const client = clientFor(f);
        const q = await (action === 'pause' ? client.pauseQueue(name) : client.resumeQueue(name));
        if (f.json) printJson(q);
        else out(`queue ${q.name} ${action === 'pause' ? 'paused' : 'resumed'}\n`);
      } catch (err) {
        exitWithError(err, f, QUEUE_FIELDS);
      }
    });
  }

  const set = queues
    .command('set')
    .description(
      "set a queue's retry defaults (for tasks submitted from now on that set none), limits and group weights",
    )
    .argument('<name>', 'queue name')
    .option('--max-attempts <n>', 'attempts in all, 1 to 100, or `default`')
    .option('--backoff <duration>', 'first retry delay, e.g. 500ms or 2s, or `default`')
    .option('--backoff-max <duration>', 'cap on the retry delay, e.g. 5m, or `default`')
    .option('--concurrency-limit <n>', 'most tasks running at once across all workers, or `none`')
    .option(
      '--key-concurrency-limit <n>',
      'most tasks with the same concurrency key running at once, or `none`',
    )
    .option(
      '--rate-limit <starts/period>',
      'most task starts of the queue in any window, e.g. 10/s, 100/1m or 5/500ms, or `none`',
    )
    .option(
      '--key-rate-limit <starts/period>',
      'most starts of tasks with the same rate key in any window, e.g. 2/1m, or `none`',
    )
    .option(
      '--group-weights <group=weight,...>',
      'weights of groups in the round robin, e.g. gold=3,free=1 (others weigh 1), or `none`',
    );
  clientOptions(usageErrors(set)).action(async (name: string, _o, cmd: Command) => {
    const f = flagsOf<
      ClientFlags & {
        maxAttempts?: string;
        backoff?: string;
        backoffMax?: string;
        concurrencyLimit?: string;
        keyConcurrencyLimit?: string;
        rateLimit?: string;
        keyRateLimit?: string;
        groupWeights?: string;
      }
    >(cmd);
    try {
      const settings: QueueSettings = {};
      if (f.maxAttempts !== undefined)
        settings.max_attempts =
          f.maxAttempts === 'default'
            ? null
            : (intFlag(f.maxAttempts, '--max-attempts', 1, 100) ?? null);
      const backoff = settingFlag(f.backoff, '--backoff');
      if (backoff !== undefined) settings.backoff_ms = backoff;
      const backoffMax = settingFlag(f.backoffMax, '--backoff-max');
      if (backoffMax !== undefined) settings.backoff_max_ms = backoffMax;
      const limit = limitFlag(f.concurrencyLimit, '--concurrency-limit');
      if (limit !== undefined) settings.concurrency_limit = limit;
      const keyLimit = limitFlag(f.keyConcurrencyLimit, '--key-concurrency-limit');
      if (keyLimit !== undefined) settings.key_concurrency_limit = keyLimit;
      const rate = rateLimitFlag(f.rateLimit, '--rate-limit');
      if (rate !== undefined) settings.rate_limit = rate;
      const keyRate = rateLimitFlag(f.keyRateLimit, '--key-rate-limit');
      if (keyRate !== undefined) settings.key_rate_limit = keyRate;
      const weights = groupWeightsFlag(f.groupWeights, '--group-weights');
      if (weights !== undefined) settings.group_weights = weights;
      if (Object.keys(settings).length === 0)
        throw new UsageError(
          'nothing to set: give --max-attempts, --backoff, --backoff-max, --concurrency-limit, --key-concurrency-limit, --rate-limit, --key-rate-limit or --group-weights',
        );
      const q: Queue = await clientFor(f).setQueue(name, settings);
      if (f.json) printJson(q);
      else out(queueLine(q));
    } catch (err) {
      exitWithError(err, f, QUEUE_FIELDS);
    }
  });

  const workers = program
    .command('workers')
    .description('list workers seen in the last hour: state, load, queues and handlers');
  clientOptions(usageErrors(workers)).action(async (_o, cmd: Command) => {
    const f = flagsOf<ClientFlags>(cmd);
    try {
      const items = await clientFor(f).workers();
      if (f.json) return void printJson({ items });
      if (items.length === 0) return void out('no workers seen in the last hour\n');
      const color = useColor(process.stdout);
      const rows = items.map((w) => [
        shortId(w.id),
        w.name,
        paint(w.state, w.state, color),
        `${w.running}/${w.concurrency}`,
        relativeTime(w.last_seen_at),
        w.queues.join(','),
        [...w.handlers, ...(w.accepts_any_command ? ['(any command: shell)'] : [])].join(','),
      ]);
      out(
        table(['id', 'name', 'state', 'running', 'last seen', 'queues', 'handlers'], rows, {
          color,
          align: ['left', 'left', 'left', 'right'],
          ...tableWidth(),
        }),
      );
    } catch (err) {
      exitWithError(err, f);
    }
  });
}
