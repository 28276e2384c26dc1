import type { Command } from 'commander';
import { registerAdminCommands } from './client-admin.js';
import { registerScheduleCommands } from './client-schedules.js';
import { registerTaskCommands } from './client-tasks.js';
import { registerWorkflowCommands } from './client-workflows.js';

/**
 * The client commands, built on the `task-queue/client` SDK: `submit`, `status`, `ls`,
 * `cancel`, `retry`, `workflow` (with `submit`, `get`, `ls`, `cancel`, `watch`), `queues` (with
 * `pause`, `resume`, `set`), `workers` and `schedules` (with `add`, `rm`, `pause`, `resume`,
 * `trigger`). Each takes
 * `--url` (TASKQ_URL), `--token` (TASKQ_TOKEN) and `--json`.
 */
export function registerClientCommands(program: Command): void {
  registerTaskCommands(program);
  registerWorkflowCommands(program);
  registerAdminCommands(program);
  registerScheduleCommands(program);
}
