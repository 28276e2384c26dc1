import type { Command } from 'commander';
import type { SubmitWorkflow, TaskQueueClient, Workflow } from '../client/index.js';
import {
  UsageError,
  clientFor,
  clientOptions,
  exitWithError,
  flagsOf,
  intFlag,
  usageErrors,
  type ClientFlags,
  type FieldFlags,
} from './client-options.js';
import { paint, useColor } from './format.js';
import {
  WorkflowProgressView,
  countsText,
  isTerminalWorkflow,
  workflowDetails,
  workflowLine,
  workflowOutcome,
  workflowsTable,
} from './format-workflow.js';
import { readJsonInput } from './json-input.js';
import { resolveShortId } from './short-ids.js';

/** Most workflows a list page holds (the API's limit). */
const MAX_PAGE = 200;

/** The flag or argument each field of a workflow request came from. */
function fieldsFor(file?: string): FieldFlags {
  const fields: FieldFlags = {
    idempotency_key: '--idempotency-key',
    limit: '--limit',
    cursor: '--cursor',
    id: '<id>',
  };
  // What the file held: the API names the field (tasks.3.depends_on.0), this the file.
  if (file !== undefined) for (const k of ['tasks', 'on_failure', 'name']) fields[k] = `in ${file}`;
  return fields;
}

const out = (text: string): boolean => process.stdout.write(text);
const printJson = (value: unknown): boolean => out(`${JSON.stringify(value, null, 2)}\n`);
const maxWidth = (): number | undefined =>
  process.stdout.isTTY ? process.stdout.columns || 80 : undefined;

/** A workflow id as typed: the full id, or the short form `taskq workflow ls` shows. */
function resolveWorkflowId(client: TaskQueueClient, typed: string): Promise<string> {
  return resolveShortId(typed, {
    noun: 'workflow',
    listCommand: 'taskq workflow ls --json',
    ids: async function* () {
      let cursor: string | undefined;
      do {
        const page = await client.listWorkflows({ limit: MAX_PAGE, ...(cursor ? { cursor } : {}) });
        for (const w of page.items) yield w.id;
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
    },
  });
}

/**
 * How a follow shows the workflow: `view`, a line for each task that changes (and on a
 * terminal a status line redrawn under them); `json`, the whole workflow as one JSON line on
 * every change; `quiet`, nothing.
 */
type FollowOutput = 'view' | 'json' | 'quiet';

/** Follows a workflow live until it ends. Resolves with the workflow as it ended. */
async function follow(
  client: TaskQueueClient,
  id: string,
  output: FollowOutput,
): Promise<Workflow> {
  const stop = new AbortController();
  const view = output === 'view' ? new WorkflowProgressView(process.stdout) : undefined;
  const onSignal = (): void => {
    view?.stop();
    stop.abort(Object.assign(new Error('interrupted'), { name: 'Interrupted' }));
  };
  process.once('SIGINT', onSignal);
  try {
    const events = client.watchWorkflow(id, { signal: stop.signal });
    for (;;) {
      const next = await events.next();
      if (next.done) return next.value;
      if (output === 'json') out(`${JSON.stringify(next.value)}\n`);
      view?.update(next.value);
    }
  } finally {
    process.off('SIGINT', onSignal);
    view?.stop();
  }
}

/**
 * A workflow that had already ended when it was first read, shown as a follow would have
 * shown it: its line and each task's, so a quick end reads like a slow one.
 */
function showEnded(w: Workflow, output: FollowOutput): Workflow {
  if (output === 'view') {
    const view = new WorkflowProgressView(process.stdout);
    view.update(w);
    view.stop();
  }
  return w;
}

/** Exit status after following: 0 when the workflow succeeded, 1 when it failed or was cancelled. */
const exitFor = (w: Workflow): number => (w.status === 'succeeded' ? 0 : 1);

/** Reports how a followed workflow ended: its outcome line, or with --json the workflow; and the exit status. */
function reportEnd(final: Workflow, json: boolean): void {
  if (json) printJson(final);
  else out(workflowOutcome(final, useColor(process.stdout)));
  process.exitCode = exitFor(final);
}

/** `taskq workflow` (a list) with submit, get, ls, cancel and watch. */
export function registerWorkflowCommands(program: Command): void {
  const workflow = program
    .command('workflow')
    .alias('workflows')
    .description('workflows: submit one from a JSON file, show, list, cancel or watch them');

  const submit = workflow
    .command('submit')
    .description(
      'submit a workflow: a JSON file (- for stdin) with the body of POST /v1/workflows (tasks with keys and depends_on, on_failure, name)',
    )
    .argument('<file>', 'the workflow as JSON, or - to read it from stdin')
    .option(
      '--idempotency-key <key>',
      'submitting the same key again returns the existing workflow (overrides the file’s)',
    )
    .option('-w, --wait', 'follow the workflow until it ends; exit 0 if it succeeded, 1 if not');
  clientOptions(usageErrors(submit)).action(async (file: string, _o, cmd: Command) => {
    const f = flagsOf<ClientFlags & { idempotencyKey?: string; wait?: boolean }>(cmd);
    const shown = file === '-' ? 'stdin' : file;
    try {
      const body = readJsonInput(file, 'the workflow');
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new UsageError(
          `${shown} must hold a JSON object such as {"tasks": [{"key": "a", "command": "echo a"}]} (got ${Array.isArray(body) ? 'an array' : typeof body === 'object' ? 'null' : `a ${typeof body}`})`,
        );
      const request = {
        ...(body as SubmitWorkflow),
        ...(f.idempotencyKey !== undefined ? { idempotency_key: f.idempotencyKey } : {}),
      };
      const client = clientFor(f);
      const { workflow: w, created } = await client.submitWorkflowDetailed(request);
      const said = created ? 'submitted' : 'already submitted (same idempotency key)';
      if (!f.wait) {
        if (f.json) printJson(w);
        else out(`${said}: ${workflowLine(w)}\n`);
        return;
      }
      if (!f.json) out(`${said}: ${w.id}\n`);
      // With --json, only the workflow as it ended, as `taskq submit --wait --json` prints the task.
      const output = f.json ? 'quiet' : 'view';
      reportEnd(
        isTerminalWorkflow(w) ? showEnded(w, output) : await follow(client, w.id, output),
        Boolean(f.json),
      );
    } catch (err) {
      exitWithError(err, f, fieldsFor(shown));
    }
  });

  const get = workflow
    .command('get')
    .alias('status')
    .description(
      'show a workflow: its status and every task with its status, dependencies and attempts',
    )
    .argument('<id>', 'workflow id (the short form from `taskq workflow ls` works too)');
  clientOptions(usageErrors(get)).action(async (typed: string, _o, cmd: Command) => {
    const f = flagsOf<ClientFlags>(cmd);
    try {
      const client = clientFor(f);
      const w = await client.getWorkflow(await resolveWorkflowId(client, typed));
      if (f.json) printJson(w);
      else out(workflowDetails(w, useColor(process.stdout), maxWidth()));
    } catch (err) {
      exitWithError(err, f, fieldsFor());
    }
  });

  const list =
    (empty: string) =>
    async (_o: unknown, cmd: Command): Promise<void> => {
      const f = flagsOf<ClientFlags & { limit?: string; all?: boolean; cursor?: string }>(cmd);
      try {
        const limit = intFlag(f.limit, '--limit', 1, MAX_PAGE) ?? 50;
        const client = clientFor(f);
        const items: Workflow[] = [];
        let cursor = f.cursor;
        let next: string | null;
        do {
          const page = await client.listWorkflows({ limit, ...(cursor ? { cursor } : {}) });
          items.push(...page.items);
          next = page.next_cursor;
          cursor = next ?? undefined;
        } while (f.all && cursor);
        if (f.json) return void printJson({ items, next_cursor: next });
        if (items.length === 0) return void out(empty);
        out(workflowsTable(items, useColor(process.stdout), maxWidth()));
        if (next)
          process.stderr.write(`(${items.length} shown; more with --all, or --cursor ${next})\n`);
      } catch (err) {
        exitWithError(err, f, fieldsFor());
      }
    };
  const listOptions = (cmd: Command): Command =>
    cmd
      .option('-n, --limit <n>', `how many to show, 1 to ${MAX_PAGE} (with --all: per page)`, '50')
      .option('-a, --all', 'every workflow, page after page')
      .option('--cursor <cursor>', 'continue after a previous page');
  clientOptions(usageErrors(listOptions(workflow))).action(
    list('no workflows yet: submit one with `taskq workflow submit FILE.json`\n'),
  );
  const ls = workflow
    .command('ls')
    .alias('list')
    .description('list workflows, newest first, with their tasks by status');
  clientOptions(usageErrors(listOptions(ls))).action(list('no workflows yet\n'));

  const cancel = workflow
    .command('cancel')
    .description(
      'cancel a running workflow: every task of it that has not ended (running handlers are aborted; on_failure does not run)',
    )
    .argument('<id>', 'workflow id (the short form from `taskq workflow ls` works too)');
  clientOptions(usageErrors(cancel)).action(async (typed: string, _o, cmd: Command) => {
    const f = flagsOf<ClientFlags>(cmd);
    try {
      const client = clientFor(f);
      const id = await resolveWorkflowId(client, typed);
      // The API would mark an ended workflow cancelled too; as for a task, that is refused.
      const before = await client.getWorkflow(id);
      if (isTerminalWorkflow(before))
        throw new UsageError(`workflow ${id} already ${before.status} and cannot be cancelled`);
      const w = await client.cancelWorkflow(id);
      if (f.json) printJson(w);
      else
        out(
          `${w.id} ${paint(w.status, w.status, useColor(process.stdout))} (${countsText(w.counts)})\n`,
        );
    } catch (err) {
      exitWithError(err, f, fieldsFor());
    }
  });

  const watch = workflow
    .command('watch')
    .description(
      'follow a workflow live until it ends: a line as each task changes; exit 0 if it succeeded, 1 if not',
    )
    .argument('<id>', 'workflow id (the short form from `taskq workflow ls` works too)');
  clientOptions(usageErrors(watch)).action(async (typed: string, _o, cmd: Command) => {
    const f = flagsOf<ClientFlags>(cmd);
    try {
      const client = clientFor(f);
      const id = await resolveWorkflowId(client, typed);
      // With --json, every change is a line already: the last one is the end.
      const final = await follow(client, id, f.json ? 'json' : 'view');
      if (!f.json) out(workflowOutcome(final, useColor(process.stdout)));
      process.exitCode = exitFor(final);
    } catch (err) {
      exitWithError(err, f, fieldsFor());
    }
  });
}
