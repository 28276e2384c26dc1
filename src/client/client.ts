import { Transport } from './http.js';
import { resolveClientOptions, type CallOptions, type ClientOptions } from './options.js';
import type {
  BatchResult,
  BulkActionResult,
  BulkTarget,
  Queue,
  QueueSettings,
  SubmitTask,
  Task,
  TaskFilter,
  TaskPage,
  WatchEvent,
  WorkerInfo,
} from './types.js';
import type { CreateSchedule, Schedule } from './schedule-types.js';
import { waitForTask, watchTask, watchWorkflowGraph, type WatchOptions } from './watch.js';
import type {
  SubmitWorkflow,
  Workflow,
  WorkflowListOptions,
  WorkflowPage,
} from './workflow-types.js';

const path = (id: string): string => `/v1/tasks/${encodeURIComponent(id)}`;
const queuePath = (name: string): string => `/v1/queues/${encodeURIComponent(name)}`;
const schedulePath = (ref: string): string => `/v1/schedules/${encodeURIComponent(ref)}`;
const workflowPath = (id: string): string => `/v1/workflows/${encodeURIComponent(id)}`;

/** A submit's body: a Date run_at as RFC 3339 (tasks, workflow tasks and on_failure alike). */
function toBody<T extends Pick<SubmitTask, 'run_at'>>(
  task: T,
): Omit<T, 'run_at'> & { run_at?: string } {
  const { run_at, ...rest } = task;
  if (run_at === undefined) return rest;
  return { ...rest, run_at: run_at instanceof Date ? run_at.toISOString() : run_at };
}

/**
 * A typed client for the /v1 REST API. Every method throws {@link ApiError} for an error
 * answer and {@link ConnectionError} when the server cannot be reached.
 */
export class TaskQueueClient {
  /** The base URL requests go to, without a trailing slash. */
  readonly baseUrl: string;
  private readonly http: Transport;

  /** @throws TypeError when `baseUrl` is not an http(s) URL, or `retries` is negative. */
  constructor(options: ClientOptions = {}) {
    const resolved = resolveClientOptions(options);
    this.baseUrl = resolved.baseUrl;
    this.http = new Transport(resolved);
  }

  /** Submits a task. With a known idempotency key, returns the existing task. */
  async submit(task: SubmitTask, opts: CallOptions = {}): Promise<Task> {
    return (await this.submitDetailed(task, opts)).task;
  }

  /**
   * Submits a task, and tells whether it is new or an existing one with the same idempotency
   * key. For an existing one, `mismatch` names the fields of this request that differ from it
   * (`command`, `queue`, `payload`, `priority`): they were not applied.
   */
  async submitDetailed(
    task: SubmitTask,
    opts: CallOptions = {},
  ): Promise<{ task: Task; created: boolean; mismatch: string[] }> {
    const res = await this.http.json<Task>({
      method: 'POST',
      path: '/v1/tasks',
      body: toBody(task),
      signal: opts.signal,
    });
    const mismatch = res.headers.get('idempotency-mismatch');
    return {
      task: res.body,
      created: res.status === 201,
      mismatch: mismatch ? mismatch.split(',').map((f) => f.trim()) : [],
    };
  }

  /** Submits up to 5000 tasks in one request and one statement: all or none. */
  async submitBatch(tasks: SubmitTask[], opts: CallOptions = {}): Promise<BatchResult> {
    return this.call<BatchResult>('POST', '/v1/tasks/batch', opts, { tasks: tasks.map(toBody) });
  }

  /** One task, with its attempts and, when it waits, why. @throws ApiError 404 when unknown */
  get(id: string, opts: CallOptions = {}): Promise<Task> {
    return this.call<Task>('GET', path(id), opts);
  }

  /**
   * One page of tasks, newest first, filtered on the server, with how many match (`total`).
   * @throws ApiError 400 naming the filter that is not valid
   */
  list(filter: TaskFilter = {}, opts: CallOptions = {}): Promise<TaskPage> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter) as Array<
      [string, string | number | boolean | Date | undefined]
    >)
      if (v !== undefined && v !== '') q.set(k, v instanceof Date ? v.toISOString() : String(v));
    const qs = q.toString();
    return this.call<TaskPage>('GET', `/v1/tasks${qs ? `?${qs}` : ''}`, opts);
  }

  /**
   * Every task matching `filter`, newest first, fetched page by page (`filter.limit` tasks a
   * page) as the iteration goes on.
   */
  async *listAll(
    filter: Omit<TaskFilter, 'cursor'> = {},
    opts: CallOptions = {},
  ): AsyncGenerator<Task, void, undefined> {
    let cursor: string | undefined;
    do {
      // No total: counting on every page would only slow the walk down.
      const page = await this.list(
        { ...filter, include_total: false, ...(cursor ? { cursor } : {}) },
        opts,
      );
      yield* page.items;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /**
   * Cancels a task that has not ended (blocked, waiting, pending or running). A waiting
   * task's children that have not ended go with it.
   * @throws ApiError 409 when it already ended
   */
  cancel(id: string, opts: CallOptions = {}): Promise<Task> {
    return this.call<Task>('POST', `${path(id)}/cancel`, opts, {});
  }

  /**
   * Makes a pending task that waits for its run_at or a retry backoff due now.
   * @throws ApiError 409 for a task that is not pending
   */
  runNow(id: string, opts: CallOptions = {}): Promise<Task> {
    return this.call<Task>('POST', `${path(id)}/run-now`, opts, {});
  }

  /**
   * Sends a dead or cancelled task back to pending with a fresh set of attempts.
   * @throws ApiError 409 for a task that is not dead or cancelled
   */
  retry(id: string, options: { max_attempts?: number } & CallOptions = {}): Promise<Task> {
    const { signal, ...body } = options;
    return this.call<Task>('POST', `${path(id)}/retry`, { ...(signal ? { signal } : {}) }, body);
  }

  /**
   * Sends many dead or cancelled tasks round again: by ids, or a filter such as
   * `{queue: 'emails', status: 'dead'}` (call again while `remaining` is above 0). Tasks in
   * another status are skipped, each with the reason.
   * @throws ApiError 400 naming the field (both ids and a filter, a malformed id, …)
   */
  bulkRetry(
    target: BulkTarget,
    options: { max_attempts?: number } & CallOptions = {},
  ): Promise<BulkActionResult> {
    const { signal, ...extra } = options;
    return this.call<BulkActionResult>(
      'POST',
      '/v1/tasks/bulk/retry',
      { ...(signal ? { signal } : {}) },
      { ...target, ...extra },
    );
  }

  /**
   * Cancels many tasks that have not ended (running handlers are aborted): by ids, or a
   * filter such as `{queue: 'emails', status: 'pending'}`. Finished tasks are skipped, each
   * with the reason.
   * @throws ApiError 400 naming the field
   */
  bulkCancel(target: BulkTarget, opts: CallOptions = {}): Promise<BulkActionResult> {
    return this.call<BulkActionResult>('POST', '/v1/tasks/bulk/cancel', opts, target);
  }

  /** Every queue, with its depth and retry defaults. */
  async queues(opts: CallOptions = {}): Promise<Queue[]> {
    return (await this.call<{ items: Queue[] }>('GET', '/v1/queues', opts)).items;
  }

  /** One queue (an unknown name reads as an empty queue with no settings). */
  queue(name: string, opts: CallOptions = {}): Promise<Queue> {
    return this.call<Queue>('GET', queuePath(name), opts);
  }

  /** Sets a queue's retry defaults for tasks submitted from now on; returns the queue. */
  setQueue(name: string, settings: QueueSettings, opts: CallOptions = {}): Promise<Queue> {
    return this.call<Queue>('PUT', queuePath(name), opts, settings);
  }

  /** Pauses a queue: nothing more is claimed from it; running tasks finish. */
  pauseQueue(name: string, opts: CallOptions = {}): Promise<Queue> {
    return this.call<Queue>('POST', `${queuePath(name)}/pause`, opts);
  }

  /** Resumes a paused queue. */
  resumeQueue(name: string, opts: CallOptions = {}): Promise<Queue> {
    return this.call<Queue>('POST', `${queuePath(name)}/resume`, opts);
  }

  /** Every cron schedule. */
  async schedules(opts: CallOptions = {}): Promise<Schedule[]> {
    return (await this.call<{ items: Schedule[] }>('GET', '/v1/schedules', opts)).items;
  }

  /** One schedule, by id or name, with its recent runs. @throws ApiError 404 when unknown */
  schedule(ref: string, opts: CallOptions = {}): Promise<Schedule> {
    return this.call<Schedule>('GET', schedulePath(ref), opts);
  }

  /**
   * Creates a cron schedule that starts a task (`command`) or a workflow (`workflow`) at each
   * tick.
   * @throws ApiError 400 naming the field (a bad cron or time zone, both or neither of command
   *   and workflow, a workflow that does not pass a submit's checks), 409 for a taken name
   */
  createSchedule(schedule: CreateSchedule, opts: CallOptions = {}): Promise<Schedule> {
    return this.call<Schedule>('POST', '/v1/schedules', opts, schedule);
  }

  /** Changes the fields given of a schedule (by id or name). */
  updateSchedule(
    ref: string,
    changes: Partial<CreateSchedule>,
    opts: CallOptions = {},
  ): Promise<Schedule> {
    return this.call<Schedule>('PATCH', schedulePath(ref), opts, changes);
  }

  /** Deletes a schedule; the tasks it created stay. */
  async deleteSchedule(ref: string, opts: CallOptions = {}): Promise<void> {
    await this.call<undefined>('DELETE', schedulePath(ref), opts);
  }

  /** Pauses a schedule: no ticks until it is resumed. */
  pauseSchedule(ref: string, opts: CallOptions = {}): Promise<Schedule> {
    return this.call<Schedule>('POST', `${schedulePath(ref)}/pause`, opts);
  }

  /** Resumes a paused schedule; ticks missed while paused are skipped. */
  resumeSchedule(ref: string, opts: CallOptions = {}): Promise<Schedule> {
    return this.call<Schedule>('POST', `${schedulePath(ref)}/resume`, opts);
  }

  /**
   * Runs a schedule now, once, and returns what it started: a task schedule's task, or a
   * workflow schedule's workflow (tell them apart with `isWorkflow`). The next cron run is
   * unchanged.
   */
  triggerSchedule(ref: string, opts: CallOptions = {}): Promise<Task | Workflow> {
    return this.call<Task | Workflow>('POST', `${schedulePath(ref)}/trigger`, opts);
  }

  /** Workers seen in the last hour, live ones first. */
  async workers(opts: CallOptions = {}): Promise<WorkerInfo[]> {
    return (await this.call<{ items: WorkerInfo[] }>('GET', '/v1/workers', opts)).items;
  }

  /**
   * Follows a task live over Server-Sent Events: yields `{type: 'task', task}` on every change
   * (the first is its current state) and `{type: 'progress', percent, message, …}` for handler
   * progress, and ends after the task reaches a terminal status (returning it). A dropped
   * stream is reopened with Last-Event-ID, so no status change is missed.
   * @throws ApiError 404 for an unknown task; ConnectionError when reconnects run out
   */
  watch(id: string, opts: WatchOptions = {}): AsyncGenerator<WatchEvent, Task> {
    return watchTask(this.http, id, opts);
  }

  /**
   * Submits a workflow: tasks that wait for the tasks they depend on. The graph is checked
   * (unknown keys, cycles, repeated keys, size) and stored in one transaction. With a known
   * idempotency key, returns the existing workflow and stores nothing.
   * @throws ApiError 400 naming the field (`tasks.3.depends_on.0`)
   */
  async submitWorkflow(workflow: SubmitWorkflow, opts: CallOptions = {}): Promise<Workflow> {
    return (await this.submitWorkflowDetailed(workflow, opts)).workflow;
  }

  /**
   * Submits a workflow, and tells whether it is new or the existing one with the same
   * idempotency key (which was returned as it is: nothing of this request was stored).
   * @throws ApiError 400 naming the field (`tasks.3.depends_on.0`)
   */
  async submitWorkflowDetailed(
    workflow: SubmitWorkflow,
    opts: CallOptions = {},
  ): Promise<{ workflow: Workflow; created: boolean }> {
    const { tasks, on_failure, ...rest } = workflow;
    const res = await this.http.json<Workflow>({
      method: 'POST',
      path: '/v1/workflows',
      body: {
        ...rest,
        tasks: tasks.map(toBody),
        ...(on_failure ? { on_failure: toBody(on_failure) } : {}),
      },
      signal: opts.signal,
    });
    return { workflow: res.body, created: res.status === 201 };
  }

  /** One workflow: its status and its graph (`tasks`). @throws ApiError 404 when unknown */
  getWorkflow(id: string, opts: CallOptions = {}): Promise<Workflow> {
    return this.call<Workflow>('GET', workflowPath(id), opts);
  }

  /** One page of workflows, newest first, each with how many of its tasks are in each status. */
  listWorkflows(page: WorkflowListOptions = {}, opts: CallOptions = {}): Promise<WorkflowPage> {
    const q = new URLSearchParams();
    if (page.limit !== undefined) q.set('limit', String(page.limit));
    if (page.cursor) q.set('cursor', page.cursor);
    const qs = q.toString();
    return this.call<WorkflowPage>('GET', `/v1/workflows${qs ? `?${qs}` : ''}`, opts);
  }

  /**
   * Cancels every task of a workflow that has not ended (running handlers get their
   * AbortSignal); its on_failure task does not run. Returns the workflow.
   * @throws ApiError 404 when unknown
   */
  cancelWorkflow(id: string, opts: CallOptions = {}): Promise<Workflow> {
    return this.call<Workflow>('POST', `${workflowPath(id)}/cancel`, opts, {});
  }

  /**
   * Follows a workflow live over Server-Sent Events: yields the whole workflow, graph
   * included, on open and after every change of one of its tasks, and ends once it is no
   * longer running (returning it). A dropped stream is reopened, and its first event is the
   * whole graph again, so no change is missed.
   * @throws ApiError 404 for an unknown workflow; ConnectionError when reconnects run out
   */
  watchWorkflow(id: string, opts: WatchOptions = {}): AsyncGenerator<Workflow, Workflow> {
    return watchWorkflowGraph(this.http, id, opts);
  }

  /**
   * Resolves with the task once it is succeeded, dead or cancelled, following it over
   * {@link watch} (no polling).
   * @throws WaitTimeoutError after `timeoutMs` (@default 60000; `Infinity` for none)
   */
  async waitFor(
    id: string,
    opts: {
      timeoutMs?: number;
      signal?: AbortSignal;
      /** @deprecated Ignored: waitFor follows the event stream instead of polling. */
      intervalMs?: number;
    } = {},
  ): Promise<Task> {
    return waitForTask(this.http, id, opts);
  }

  private async call<T>(method: string, p: string, opts: CallOptions, body?: unknown): Promise<T> {
    return (await this.http.json<T>({ method, path: p, body, signal: opts.signal })).body;
  }
}
