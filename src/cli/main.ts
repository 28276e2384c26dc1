#!/usr/bin/env node
import { Command } from 'commander';
import { VERSION } from '../lib/version.js';
import { registerClientCommands } from './client-commands.js';
import { registerDevCommand } from './dev.js';
import { registerServiceCommands } from './services.js';
import { registerGrantSqlCommand, registerTokenCommands } from './tokens.js';
import { registerWorkerCommand } from './worker.js';

const program = new Command()
  .name('taskq')
  .description('Task Queue: a distributed task queue on PostgreSQL')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)');

registerDevCommand(program);
registerServiceCommands(program);
registerWorkerCommand(program);
registerClientCommands(program);
registerTokenCommands(program);
registerGrantSqlCommand(program);

await program.parseAsync(process.argv);
