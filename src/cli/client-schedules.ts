import type { Command } from 'commander';
import {
  isWorkflow,
  type CreateSchedule,
  type MisfirePolicy,
  type Schedule,
  type ScheduleWorkflow,
} from '../client/index.js';
import {
  UsageError,
  clientFor,
  clientOptions,
  exitWithError,
  flagsOf,
  intFlag,
  jsonFlag,
  usageErrors,
  type ClientFlags,
} from './client-options.js';
import { paint, relativeTime, table, useColor } from './format.js';
import { readJsonInput } from './json-input.js';

const FIELDS = {
  name: '<name>',
  cron: '<cron>',
  command: '<command>',
  workflow: '--workflow',
  timezone: '--timezone',
  payload: '--payload',
  queue: '--queue',
  misfire: '--misfire',
  catch_up_limit: '--catch-up-limit',
  max_attempts: '--max-attempts',
};

const MISFIRE: readonly MisfirePolicy[] = ['skip', 'run_once', 'run_all'];

const out = (text: string): boolean => process.stdout.write(text);
const printJson = (value: unknown): boolean => out(`${JSON.stringify(value, null, 2)}\n`);

/** What a workflow schedule starts, in a few words: `nightly-etl (4 tasks)`. */
function workflowText(w: ScheduleWorkflow): string {
  const n = `${w.tasks.length} task${w.tasks.length === 1 ? '' : 's'}`;
  return w.name ? `${w.name} (${n})` : n;
}

function schedulesTable(items: Schedule[]): string {
  const color = useColor(process.stdout);
  const rows = items.map((s) => [
    s.name,
    s.paused ? paint('paused', 'paused', color) : 'active',
    `${s.cron}${s.timezone === 'UTC' ? '' : ` (${s.timezone})`}`,
    s.next_run_at ? `${s.next_run_at} (${relativeTime(s.next_run_at)})` : '-',
    s.last_run_at ? relativeTime(s.last_run_at) : 'never',
    s.kind,
    s.queue ?? '-',
    s.workflow ? workflowText(s.workflow) : (s.command ?? ''),
  ]);
  return table(['name', 'state', 'cron', 'next run', 'last run', 'kind', 'queue', 'starts'], rows, {
    color,
    ...(process.stdout.isTTY ? { maxWidth: process.stdout.columns || 80 } : {}),
  });
}

function scheduleLine(s: Schedule): string {
  const next = s.next_runs.slice(0, 3).join(', ');
  const starts = s.workflow
    ? `starts workflow ${workflowText(s.workflow)}`
    : `runs \`${s.command}\` on ${s.queue}`;
  return `schedule ${s.name}: ${s.paused ? 'paused' : 'active'}, "${s.cron}" in ${s.timezone}, ${starts}${next ? `; next: ${next}` : ''}\n`;
}

/** `taskq schedules` (list) with add, rm, pause, resume and trigger. */
export function registerScheduleCommands(program: Command): void {
  const schedules = program
    .command('schedules')
    .description('list cron schedules; add, remove, pause, resume or trigger one');
  const list =
    (empty: string) =>
    async (_o: unknown, cmd: Command): Promise<void> => {
      const f = flagsOf<ClientFlags>(cmd);
      try {
        const items = await clientFor(f).schedules();
        if (f.json) printJson({ items });
        else out(items.length ? schedulesTable(items) : empty);
      } catch (err) {
        exitWithError(err, f, FIELDS);
      }
    };
  clientOptions(usageErrors(schedules)).action(
    list('no schedules yet: add one with `taskq schedules add NAME "CRON" COMMAND...`\n'),
  );
  const ls = schedules
    .command('ls')
    .description('list cron schedules (the same as `taskq schedules`)');
  clientOptions(usageErrors(ls)).action(list('no schedules yet\n'));

  const add = schedules
    .command('add')
    .description(
      'add a cron schedule, e.g. taskq schedules add nightly "30 2 * * *" report daily --timezone Europe/Paris; or one that starts a workflow: taskq schedules add etl "0 3 * * *" --workflow etl.json',
    )
    .argument('<name>', 'unique name')
    .argument(
      '<cron>',
      '5 fields (minute hour day month weekday), or 6 with seconds first; quote it',
    )
    .argument('[command...]', 'the command of every task it creates (or give --workflow)')
    .option(
      '--workflow <file>',
      'start a workflow at each tick instead of a task: a JSON file (- for stdin) with the body of POST /v1/workflows',
    )
    .option('--timezone <zone>', 'IANA time zone (default UTC)')
    .option('--payload <json>', 'JSON payload for every task (or @file.json)')
    .option('--queue <name>', 'queue (default: default)')
    .option('--misfire <policy>', `after downtime: ${MISFIRE.join(', ')} (default run_once)`)
    .option('--catch-up-limit <n>', 'most missed ticks run_all fires (default 100)')
    .option('--max-attempts <n>', 'attempts for each task')
    .option('--paused', 'create it paused');
  clientOptions(usageErrors(add)).action(
    async (name: string, cron: string, words: string[], _o, cmd: Command) => {
      const f = flagsOf<
        ClientFlags & {
          workflow?: string;
          timezone?: string;
          payload?: string;
          queue?: string;
          misfire?: string;
          catchUpLimit?: string;
          maxAttempts?: string;
          paused?: boolean;
        }
      >(cmd);
      try {
        if (f.misfire !== undefined && !MISFIRE.includes(f.misfire as MisfirePolicy)) {
          throw new UsageError(
            `--misfire must be one of ${MISFIRE.join(', ')} (got "${f.misfire}")`,
          );
        }
        if (words.length > 0 === (f.workflow !== undefined))
          throw new UsageError(
            words.length > 0
              ? 'give a command or --workflow <file>, not both: each tick starts a task or a workflow'
              : 'give the command each tick runs, or --workflow <file> for a workflow (see taskq schedules add --help)',
          );
        const body: CreateSchedule = { name, cron };
        if (f.workflow !== undefined)
          body.workflow = readJsonInput(f.workflow, 'the workflow') as ScheduleWorkflow;
        else body.command = words.join(' ');
        if (f.timezone) body.timezone = f.timezone;
        if (f.payload !== undefined) body.payload = jsonFlag(f.payload, '--payload');
        if (f.queue) body.queue = f.queue;
        if (f.misfire) body.misfire = f.misfire as MisfirePolicy;
        const limit = intFlag(f.catchUpLimit, '--catch-up-limit', 1, 1000);
        if (limit !== undefined) body.catch_up_limit = limit;
        const attempts = intFlag(f.maxAttempts, '--max-attempts', 1, 100);
        if (attempts !== undefined) body.max_attempts = attempts;
        if (f.paused) body.paused = true;
        const s = await clientFor(f).createSchedule(body);
        if (f.json) printJson(s);
        else out(scheduleLine(s));
      } catch (err) {
        exitWithError(err, f, FIELDS);
      }
    },
  );

  const rm = schedules
    .command('rm')
    .description('delete a schedule (the tasks and workflows it started stay)')
    .argument('<name>', 'schedule name or id');
  clientOptions(usageErrors(rm)).action(async (ref: string, _o, cmd: Command) => {
    const f = flagsOf<ClientFlags>(cmd);
    try {
      await clientFor(f).deleteSchedule(ref);
      if (f.json) printJson({ deleted: ref });
      else out(`schedule ${ref} deleted\n`);
    } catch (err) {
      exitWithError(err, f, FIELDS);
    }
  });

  for (const action of ['pause', 'resume', 'trigger'] as const) {
    const sub = schedules
      .command(action)
      .description(
        action === 'pause'
          ? 'pause a schedule'
          : action === 'resume'
            ? 'resume a schedule (ticks missed while paused are skipped)'
            : 'run a schedule now, once: prints the id of the task (or workflow) it started',
      )
      .argument('<name>', 'schedule name or id');
    clientOptions(usageErrors(sub)).action(async (ref: string, _o, cmd: Command) => {
      const f = flagsOf<ClientFlags>(cmd);
      try {
        const client = clientFor(f);
        if (action === 'trigger') {
          const run = await client.triggerSchedule(ref);
          if (f.json) printJson(run);
          // A bare id, for scripts; a workflow's is on stdout as a task's is.
          else out(`${run.id}\n`);
          if (!f.json && isWorkflow(run))
            process.stderr.write(`(a workflow: taskq workflow watch ${run.id})\n`);
          return;
        }
        const s = await (action === 'pause'
          ? client.pauseSchedule(ref)
          : client.resumeSchedule(ref));
        if (f.json) printJson(s);
        else out(scheduleLine(s));
      } catch (err) {
        exitWithError(err, f, FIELDS);
      }
    });
  }
}
