import { parseArgs } from './lib/options.js';
import { killAll } from './lib/processes.js';
import { toMarkdown } from './report/markdown.js';
import { runBench } from './runner.js';

/**
 * `npm run bench -- [--quick | --smoke] [--only …] [--systems …] [--out dir]`: runs the
 * scenarios against taskq and its peers and writes bench/results/latest.{json,md} and
 * chart.svg. Progress goes to stderr, the markdown table to stdout.
 */
async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  // A peer library's stray promise (e.g. pg-boss's fire-and-forget completions) must not
  // kill the run and strand its schemas: report it and carry on; the scenarios check their
  // results in the database anyway.
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`warning: unhandled rejection: ${String(err)}\n`);
  });
  // Ctrl-C: children first, so nothing keeps running against the database.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
  const results = await runBench({
    mode: args.mode,
    only: args.only,
    systems: args.systems,
    ...(args.drainTasks === undefined ? {} : { drainTasks: args.drainTasks }),
    ...(args.outDir === undefined ? {} : { outDir: args.outDir }),
  });
  process.stdout.write(toMarkdown(results));
}

main().catch((err: unknown) => {
  killAll();
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
