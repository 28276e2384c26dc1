import {
  ConflictError,
  NotFoundError,
  RateLimitedError,
  ValidationError,
} from '../../lib/errors.js';
import type { Attempt } from '../../store/attempts.js';
import { listAttempts } from '../../store/attempts.js';
import type { Db } from '../../store/db.js';
import { insertTasks, type BatchInsertResult } from '../../store/insert.js';
import { guardDb } from './guard.js';
import { InsertBatcher } from './insert-batcher.js';
import {
  CANCELLABLE_STATUSES,
  RETRYABLE_STATUSES,
  cancelTask,
  retryTask,
  runNowTask,
} from '../../store/actions.js';
import { countTasks, getTask, listTasks, type CappedCount } from '../../store/read.js';
import { parseTimestamp } from '../../lib/time.js';
import type { Task, TaskStatus } from '../../store/types.js';
import { countDue, keyConcurrencyLimit } from '../../store/queues.js';
import { workerNames } from '../../store/workers.js';
import type { Metrics } from '../../observability/metrics.js';
import { SpanKind, failSpan, startSpan, traceparentOf } from '../../lib/trace.js';
import { checkSchema } from '../schemas/check.js';
import { checkStorable } from '../schemas/storable.js';
import { LIMITS, SubmitTaskBody, type SubmitTaskInput } from '../schemas/tasks.js';
import { checkTaskId, idempotencyMismatch, prepareTask } from './submit.js';
import { waitingFor as explainWaiting } from './waiting-for.js';

/** How long a client refused by backpressure is told to wait before it tries again. */
const DEPTH_RETRY_AFTER_S = 5;

/**
 * Checks submit input that did not come through the REST gate (gRPC, the seed route, a
 * schedule's trigger, in-process callers) by the same rules: storable text, then the schema.
 * @throws ValidationError naming the field.
 */
function checkSubmitInput(input: SubmitTaskInput): SubmitTaskInput {
  checkStorable(input);
  return checkSchema(SubmitTaskBody, input);
}

/** One task with what the detail view adds. */
export interface TaskDetail {
  task: Task;
  attempts: Attempt[];
  waitingFor: string | null;
  /** The name the task's current worker announced, when known. */
  workerName: string | null;
}

/** Filters of a task list; times are RFC 3339 text, as the API takes them. */
export interface ListQuery {
  status?: TaskStatus;
  queue?: string;
  command?: string;
  idempotencyKey?: string;
  /** A worker id: tasks whose latest attempt ran, or runs, on it. */
  worker?: string;
  createdAfter?: string;
  createdBefore?: string;
  limit?: number;
  cursor?: string;
  /** Count the matching tasks (exact up to LIMITS.totalCap). @default true */
  includeTotal?: boolean;
}

/** Why a cancel leaves a task in `status` as it is (after "task <id> "). */
export const cannotCancel = (status: TaskStatus): string =>
  `is already ${status} and cannot be cancelled`;
/** Why a retry leaves a task in `status` as it is (after "task <id> "). */
export const cannotRetry = (status: TaskStatus): string =>
  `is ${status}; only ${RETRYABLE_STATUSES.join(' or ')} tasks can be retried`;

/**
 * Whether a submit's input was already checked against its schema: REST bodies are, by
 * Fastify, before the handler runs; gRPC and in-process callers' are not.
 */
export type InputState = 'validated' | 'unchecked';

/**
 * The task operations behind every client surface (REST /v1, the seed routes, gRPC
 * TaskService), so each rule lives once. Database outages surface as UnavailableError.
 */
export class TasksApi {
  private readonly depthCache = new Map<string, { at: number; depth: number }>();
  private readonly inserts: InsertBatcher;

  constructor(
    private readonly db: Db,
    private readonly options: {
      maxQueueDepth?: number | null;
      metrics?: Metrics;
      /** Which service this is, on the spans it records. */
      component?: string;
    } = {},
  ) {
    this.inserts = new InsertBatcher(db);
  }

  /**
   * A concurrency key is only meaningful in a queue that limits keys; anywhere else it would
   * silently limit nothing.
   * @throws ValidationError naming concurrency_key and saying what to do.
   */
  private async checkKeyed(queue: string): Promise<void> {
    if ((await this.guard(() => keyConcurrencyLimit(this.db, queue))) !== null) return;
    throw new ValidationError(
      `concurrency_key needs a per-key limit on queue '${queue}': set one with PUT /v1/queues/${queue} {"key_concurrency_limit": N}`,
      'concurrency_key',
    );
  }

  /**
   * Backpressure: refuses new work for a queue that already holds `maxQueueDepth` due tasks.
   * The depth is counted (up to the limit) at most once a second per queue.
   * @throws RateLimitedError (429) telling the client when to come back.
   */
  private async checkDepth(queue: string, adding: number): Promise<void> {
    const limit = this.options.maxQueueDepth;
    if (!limit) return;
    let cached = this.depthCache.get(queue);
    if (!cached || Date.now() - cached.at > 1000) {
      cached = { at: Date.now(), depth: await this.guard(() => countDue(this.db, queue, limit)) };
      this.depthCache.set(queue, cached);
    }
    if (cached.depth + adding > limit) {
      throw new RateLimitedError(
        `queue '${queue}' holds ${cached.depth} due tasks (limit ${limit}); retry in ${DEPTH_RETRY_AFTER_S} s`,
        DEPTH_RETRY_AFTER_S,
      );
    }
    cached.depth += adding;
  }

  /**
   * Stores a task; with a known idempotency key, returns the existing one as it is, with the
   * fields of this request that differ from it (`mismatch`: they were not applied).
   */
  async submit(
    input: SubmitTaskInput,
    /** The caller's W3C traceparent, if it sent one: the submit span becomes its child. */
    traceparent?: string | null,
    /** 'validated' when the REST layer already checked `input` against SubmitTaskBody. */
    inputState: InputState = 'unchecked',
  ): Promise<{ task: Task; created: boolean; mismatch: string[] }> {
    const row = prepareTask(inputState === 'validated' ? input : checkSubmitInput(input));
    if (row.concurrencyKey !== null) await this.checkKeyed(row.queue);
    await this.checkDepth(row.queue, 1);
    const span = startSpan(
      `taskq.submit ${row.handler}`,
      traceparent,
      {
        'taskq.component': this.options.component ?? 'api',
        'taskq.queue': row.queue,
        'taskq.handler': row.handler,
        'taskq.task_id': row.id,
      },
      SpanKind.PRODUCER,
    );
    row.traceContext = traceparentOf(span);
    try {
      const out = await this.guard(() => this.inserts.insert(row));
      if (out.created)
        this.options.metrics?.submitted.inc({ queue: row.queue, handler: row.handler });
      span.end();
      return { ...out, mismatch: out.created ? [] : idempotencyMismatch(row, out.task) };
    } catch (err) {
      failSpan(span, err);
      throw err;
    }
  }

  /**
   * Stores many tasks in one statement. Each is checked first; one bad task rejects the
   * whole batch, naming its index, and nothing is stored.
   */
  async submitBatch(
    inputs: SubmitTaskInput[],
    traceparent?: string | null,
    /** 'validated' when the REST layer already checked every task against SubmitTaskBody. */
    inputState: InputState = 'unchecked',
  ): Promise<BatchInsertResult[]> {
    if (inputs.length === 0 || inputs.length > LIMITS.batchSize) {
      throw new ValidationError(`tasks must hold 1 to ${LIMITS.batchSize} tasks`, 'tasks');
    }
    const rows = inputs.map((input, i) => {
      try {
        return prepareTask(inputState === 'validated' ? input : checkSubmitInput(input));
      } catch (err) {
        if (err instanceof ValidationError) {
          const field = `tasks.${i}${err.field ? `.${err.field}` : ''}`;
          throw new ValidationError(`tasks[${i}]: ${err.message}`, field);
        }
        throw err;
      }
    });
    const perQueue = new Map<string, number>();
    for (const r of rows) perQueue.set(r.queue, (perQueue.get(r.queue) ?? 0) + 1);
    for (const q of new Set(rows.filter((r) => r.concurrencyKey !== null).map((r) => r.queue))) {
      await this.checkKeyed(q);
    }
    for (const [queue, n] of perQueue) await this.checkDepth(queue, n);
    const span = startSpan(
      'taskq.submit batch',
      traceparent,
      {
        'taskq.component': this.options.component ?? 'api',
        'taskq.tasks': rows.length,
      },
      SpanKind.PRODUCER,
    );
    const traceContext = traceparentOf(span);
    for (const r of rows) r.traceContext = traceContext;
    const out = await this.guard(() => insertTasks(this.db, rows)).catch((err: unknown) => {
      failSpan(span, err);
      throw err;
    });
    span.end();
    const submitted = this.options.metrics?.submitted;
    if (submitted) {
      // One increment per (queue, handler), not per task: label lookups are not free.
      const counts = new Map<string, { queue: string; handler: string; n: number }>();
      out.forEach((r, i) => {
        const row = rows[i];
        if (!r.created || !row) return;
        const key = `${row.queue}\0${row.handler}`;
        const c = counts.get(key);
        if (c) c.n++;
        else counts.set(key, { queue: row.queue, handler: row.handler, n: 1 });
      });
      for (const c of counts.values()) submitted.inc({ queue: c.queue, handler: c.handler }, c.n);
    }
    return out;
  }

  /**
   * One task; with `detail` (the default), its attempts and why it waits.
   * @throws ValidationError naming `field` for a malformed id; NotFoundError for an unknown one.
   */
  async get(id: string, opts: { detail?: boolean; field?: string } = {}): Promise<TaskDetail> {
    const withDetail = opts.detail ?? true;
    const taskId = checkTaskId(id, opts.field);
    return this.guard(async () => {
      const task = await getTask(this.db, taskId);
      if (!task) throw new NotFoundError(`no task with id ${taskId}`);
      if (!withDetail) return { task, attempts: [], waitingFor: null, workerName: null };
      return this.detail(task);
    });
  }

  /** A task with its attempts, why it waits, and its worker's name: what every answer about one task carries. */
  private async detail(task: Task): Promise<TaskDetail> {
    const [attempts, waitingFor, names] = await Promise.all([
      listAttempts(this.db, task.id),
      explainWaiting(this.db, task),
      workerNames(this.db, task.workerId ? [task.workerId] : []),
    ]);
    return {
      task,
      attempts,
      waitingFor,
      workerName: task.workerId ? (names.get(task.workerId) ?? null) : null,
    };
  }

  /**
   * A page of tasks, newest first, with how many match the filters (exact up to
   * LIMITS.totalCap) unless `includeTotal` is false.
   * @throws ValidationError naming the parameter (a created time that does not parse, a window
   * that ends before it starts, a cursor this API did not return).
   */
  async list(q: ListQuery): Promise<{
    items: Task[];
    nextCursor: string | null;
    total: CappedCount | null;
  }> {
    const limit = q.limit ?? 50;
    const beforeId = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const createdAfter =
      q.createdAfter === undefined ? undefined : parseTimestamp(q.createdAfter, 'created_after');
    const createdBefore =
      q.createdBefore === undefined ? undefined : parseTimestamp(q.createdBefore, 'created_before');
    if (createdAfter && createdBefore && createdBefore <= createdAfter) {
      throw new ValidationError(
        `created_before must be later than created_after (${createdBefore.toISOString()} <= ${createdAfter.toISOString()})`,
        'created_before',
      );
    }
    const filter = {
      status: q.status,
      queue: q.queue,
      command: q.command,
      idempotencyKey: q.idempotencyKey,
      workerId: q.worker,
      createdAfter,
      createdBefore,
    };
    const [rows, total] = await this.guard(() =>
      Promise.all([
        listTasks(this.db, { ...filter, beforeId, limit }),
        q.includeTotal === false ? null : countTasks(this.db, filter, LIMITS.totalCap),
      ]),
    );
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items,
      nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null,
      total,
    };
  }

  /**
   * Cancels a pending or running task.
   * @throws NotFoundError, or ConflictError when the task already finished.
   */
  async cancel(id: string): Promise<TaskDetail> {
    const taskId = checkTaskId(id);
    const out = await this.guard(() => cancelTask(this.db, taskId));
    if (!out) throw new NotFoundError(`no task with id ${taskId}`);
    if (!CANCELLABLE_STATUSES.includes(out.previous)) {
      throw new ConflictError(`task ${taskId} ${cannotCancel(out.previous)}`);
    }
    return this.guard(() => this.detail(out.task));
  }

  /**
   * Sends a dead or cancelled task round again with a fresh set of attempts.
   * @throws NotFoundError, or ConflictError when the task is pending, running or succeeded.
   */
  async retry(id: string, extraAttempts?: number): Promise<TaskDetail> {
    const taskId = checkTaskId(id);
    const out = await this.guard(() => retryTask(this.db, taskId, extraAttempts ?? null));
    if (!out) throw new NotFoundError(`no task with id ${taskId}`);
    if (!RETRYABLE_STATUSES.includes(out.previous)) {
      throw new ConflictError(`task ${taskId} ${cannotRetry(out.previous)}`);
    }
    return this.guard(() => this.detail(out.task));
  }

  /**
   * Makes a pending task that waits for its run_at or a retry backoff due now; a task
   * already due is returned as it is.
   * @throws NotFoundError, or ConflictError when the task is not pending.
   */
  async runNow(id: string): Promise<TaskDetail> {
    const taskId = checkTaskId(id);
    const out = await this.guard(() => runNowTask(this.db, taskId));
    if (!out) throw new NotFoundError(`no task with id ${taskId}`);
    if (out.previous !== 'pending') {
      const hint =
        out.previous === 'dead' || out.previous === 'cancelled' ? '; retry it instead' : '';
      throw new ConflictError(
        `task ${taskId} is ${out.previous}; only a pending task can be run now${hint}`,
      );
    }
    return this.guard(() => this.detail(out.task));
  }

  private guard<T>(fn: () => Promise<T>): Promise<T> {
    return guardDb(fn);
  }
}

function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString();
  try {
    return checkTaskId(id, 'cursor');
  } catch {
    throw new ValidationError(
      'cursor is not one this API returned; pass next_cursor from the previous page',
      'cursor',
    );
  }
}
