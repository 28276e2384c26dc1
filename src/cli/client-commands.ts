import type { Command } from 'commander';
import { registerAdminCommands } from './client-admin.js';
import { registerTaskCommands } from './client-tasks.js';

/**
 * The client commands, built on the `task-queue/client` SDK: `submit`, `status`, `ls`,
 * `cancel`, `retry`, `queues` (with `pause`, `resume`, `set`) and `workers`. Each takes
 * `--url` (TASKQ_URL), `--token` (TASKQ_TOKEN) and `--json`.
 */
export function registerClientCommands(program: Command): void {
  registerTaskCommands(program);
  registerAdminCommands(program);
}
