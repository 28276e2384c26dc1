import type { Logger } from 'pino';
import { parseCommand } from '../lib/command.js';
import type { Assigned } from '../lib/packed.js';
import {
  WaitForChildren,
  type ChildOutcome,
  type ChildTask,
  type FailedTask,
  type TaskContext,
} from './types.js';

/** What a context reads from its attempt (a `TaskAttempt`). */
export interface ContextSource {
  readonly assignment: Assigned;
  /** Children spawned so far; `ctx.spawn` adds to it. */
  readonly spawned: ChildTask[];
  signal(): AbortSignal;
  logger(): Logger;
  progress(percent: number, message: string): void;
}

/**
 * A handler's `ctx`: plain values read from the assignment, the rest worked out when first
 * read (arguments, inputs, `scheduledAt`), and methods bound on first read, so that
 * `const { progress } = ctx` works as it would with a plain object.
 */
export class AttemptContext implements TaskContext {
  readonly taskId: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly command: string;
  readonly queue: string;
  private parsedArgs: readonly string[] | undefined;
  private parsedInputs: Inputs | undefined;
  private scheduled: Date | undefined;
  private bound: Pick<TaskContext, 'progress' | 'spawn' | 'waitFor'> | undefined;

  constructor(private readonly task: ContextSource) {
    const a = task.assignment;
    this.taskId = a.taskId;
    this.attempt = a.attempt;
    this.maxAttempts = a.maxAttempts;
    this.command = a.command;
    this.queue = a.queue;
  }

  get args(): readonly string[] {
    return (this.parsedArgs ??= parseCommand(this.command).args);
  }

  get scheduledAt(): Date {
    return (this.scheduled ??= new Date(Number(this.task.assignment.scheduledAtMs)));
  }

  get signal(): AbortSignal {
    return this.task.signal();
  }

  get log(): Logger {
    return this.task.logger();
  }

  get parents(): Readonly<Record<string, unknown>> {
    return (this.inputs.parents ??= {});
  }

  get children(): readonly ChildOutcome[] | undefined {
    return this.inputs.children;
  }

  get failure(): FailedTask | undefined {
    return this.inputs.failed;
  }

  get progress(): TaskContext['progress'] {
    return this.methods.progress;
  }

  get spawn(): TaskContext['spawn'] {
    return this.methods.spawn;
  }

  get waitFor(): TaskContext['waitFor'] {
    return this.methods.waitFor;
  }

  private get inputs(): Inputs {
    return (this.parsedInputs ??= parseInputs(this.task.assignment.inputsJson));
  }

  private get methods(): Pick<TaskContext, 'progress' | 'spawn' | 'waitFor'> {
    const task = this.task;
    return (this.bound ??= {
      progress: (percent, message = '') => task.progress(percent, message),
      spawn: (children) => {
        task.spawned.push(...children);
        return children;
      },
      waitFor: (children = []) => new WaitForChildren(children),
    });
  }
}

/** What a task gets besides its payload (Assignments.inputs_json). */
interface Inputs {
  parents?: Record<string, unknown>;
  children?: ChildOutcome[];
  failed?: FailedTask;
}

function parseInputs(json: string): Inputs {
  if (!json) return {};
  try {
    return JSON.parse(json) as Inputs;
  } catch {
    return {};
  }
}
