/**
 * `task-queue/client`: a typed REST client.
 *
 * ```ts
 * import { TaskQueueClient } from 'task-queue/client';
 * const tq = new TaskQueueClient({ baseUrl: 'http://127.0.0.1:8081' });
 * const task = await tq.submit({ command: 'echo hi' });
 * const done = await tq.waitFor(task.id);
 * ```
 */

export type TaskStatus = 'pending' | 'running' | 'succeeded' | 'dead' | 'cancelled';

/** A task as the /v1 API returns it. */
export interface Task {
  id: string;
  queue: string;
  command: string;
  payload: unknown;
  priority: number;
  status: TaskStatus;
  run_at: string;
  attempt: number;
  max_attempts: number;
  timeout_ms: number | null;
  backoff_ms: number;
  backoff_max_ms: number;
  worker_id: string | null;
  idempotency_key: string | null;
  result: unknown;
  error: string | null;
  executor: string | null;
  created_at: string;
  updated_at: string;
  picked_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  failed_at: string | null;
  cancelled_at: string | null;
  waiting_for?: string;
  attempts?: Array<{
    attempt: number;
    worker_id: string | null;
    picked_at: string | null;
    started_at: string | null;
    finished_at: string;
    outcome: string;
    error: string | null;
  }>;
}

/** What POST /v1/tasks takes. */
export interface SubmitTask {
  command: string;
  payload?: unknown;
  queue?: string;
  priority?: number;
  /** RFC 3339, or a Date. */
  run_at?: string | Date;
  max_attempts?: number;
  timeout_ms?: number;
  backoff_ms?: number;
  backoff_max_ms?: number;
  idempotency_key?: string;
}

/** An error answer from the API. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ClientOptions {
  /** The scheduler or coordinator REST address. @default 'http://127.0.0.1:8081' */
  baseUrl?: string;
  /** Sent as a Bearer token when set. */
  token?: string;
}

const TERMINAL = new Set<TaskStatus>(['succeeded', 'dead', 'cancelled']);

/** A small typed client for the /v1 REST API. */
export class TaskQueueClient {
  private readonly baseUrl: string;
  private readonly token: string | undefined;

  constructor(options: ClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? 'http://127.0.0.1:8081').replace(/\/+$/, '');
    this.token = options.token;
  }

  /** Submits a task. With a known idempotency key, returns the existing task. */
  submit(task: SubmitTask): Promise<Task> {
    const body = {
      ...task,
      ...(task.run_at instanceof Date ? { run_at: task.run_at.toISOString() } : {}),
    };
    return this.request<Task>('POST', '/v1/tasks', body);
  }

  /**
   * Submits up to 5000 tasks in one request and one database statement: all or none.
   * Returns one item per task, in order.
   */
  submitBatch(tasks: SubmitTask[]): Promise<{
    items: Array<{ id: string; status: TaskStatus; created: boolean }>;
    created: number;
  }> {
    const body = tasks.map((t) => ({
      ...t,
      ...(t.run_at instanceof Date ? { run_at: t.run_at.toISOString() } : {}),
    }));
    return this.request('POST', '/v1/tasks/batch', { tasks: body });
  }

  /** One task with its attempts. */
  get(id: string): Promise<Task> {
    return this.request<Task>('GET', `/v1/tasks/${encodeURIComponent(id)}`);
  }

  /** A page of tasks, newest first. */
  list(
    filter: {
      status?: TaskStatus;
      queue?: string;
      command?: string;
      limit?: number;
      cursor?: string;
    } = {},
  ): Promise<{
    items: Task[];
    next_cursor: string | null;
  }> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return this.request('GET', `/v1/tasks${qs ? `?${qs}` : ''}`);
  }

  /** Cancels a pending or running task. */
  cancel(id: string): Promise<Task> {
    return this.request<Task>('POST', `/v1/tasks/${encodeURIComponent(id)}/cancel`, {});
  }

  /** Polls until the task is succeeded, dead or cancelled. */
  async waitFor(id: string, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<Task> {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    for (;;) {
      const t = await this.get(id);
      if (TERMINAL.has(t.status)) return t;
      if (Date.now() > deadline)
        throw new Error(`task ${id} is still ${t.status} after ${opts.timeoutMs ?? 60_000} ms`);
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
    }
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const json: unknown = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      const e = (
        json as { error?: { code?: string; message?: string; field?: string } } | undefined
      )?.error;
      throw new ApiError(
        res.status,
        e?.code ?? 'http_error',
        e?.message ?? `HTTP ${res.status}`,
        e?.field,
      );
    }
    return json as T;
  }
}
