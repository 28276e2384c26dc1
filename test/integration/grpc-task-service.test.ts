import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskService, TaskStatus } from '../../src/gen/taskqueue/v1/task_pb.js';
import type { Coordinator } from '../../src/coordinator/index.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessWorker } from '../helpers/inprocess.js';

const db = await useSchema();
let coordinator: Coordinator;
let client: Client<typeof TaskService>;
let sessions: Http2SessionManager;

beforeAll(async () => {
  coordinator = await inProcessCoordinator(db, { scope: 'file' });
  const url = `http://127.0.0.1:${coordinator.grpcPort}`;
  sessions = new Http2SessionManager(url);
  client = createClient(
    TaskService,
    createGrpcTransport({ baseUrl: url, sessionManager: sessions }),
  );
});

afterAll(() => sessions.abort());

describe('TaskService over gRPC', () => {
  it('submits, gets and watches a task to completion', async () => {
    await inProcessWorker(coordinator, { queues: ['grpc'] });
    const submitted = await client.submitTask({
      command: 'echo from grpc',
      queue: 'grpc',
      payload: { kind: { case: 'stringValue', value: 'p' } },
    });
    expect(submitted.created).toBe(true);
    const id = submitted.task?.id as string;
    const seen: TaskStatus[] = [];
    for await (const ev of client.watchTask({ id }))
      seen.push(ev.task?.status ?? TaskStatus.UNSPECIFIED);
    expect(seen.at(-1)).toBe(TaskStatus.SUCCEEDED);
    const got = await client.getTask({ id });
    expect(got.task).toMatchObject({
      id,
      command: 'echo from grpc',
      status: TaskStatus.SUCCEEDED,
      attempt: 1,
      executor: 'handler',
    });
    expect(got.task?.attempts.map((a) => a.outcome)).toEqual(['succeeded']);
    expect(got.task?.result?.kind.case).toBe('structValue');
  });

  it('carries handler progress between task changes, and the latest progress on the task', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    await inProcessWorker(coordinator, { queues: ['grpc-progress'] }, (w) =>
      w.handle('steps', async (_p, ctx) => {
        ctx.progress(30, 'step one');
        await gate;
        ctx.progress(70, 'step two');
        // Progress of an attempt that has finished is dropped: give it time to land first.
        await new Promise((r) => setTimeout(r, 300));
        return 'done';
      }),
    );
    const submitted = await client.submitTask({ command: 'steps', queue: 'grpc-progress' });
    const id = submitted.task?.id as string;
    const progress: Array<[number, string]> = [];
    let last: TaskStatus = TaskStatus.UNSPECIFIED;
    let runningProgress: number | undefined;
    for await (const ev of client.watchTask({ id })) {
      if (ev.progress) {
        progress.push([Math.round(ev.progress.percent), ev.progress.message]);
        expect(ev.progress.attempt).toBe(1);
        expect(ev.progress.at).toBeDefined();
        if (progress.length === 1) release();
      }
      if (ev.task) {
        last = ev.task.status;
        if (ev.task.status === TaskStatus.RUNNING) runningProgress = ev.task.progress?.percent;
        // A report made before the watch was live is not replayed as an event, but the task
        // the watch reads first carries it: either way the handler may go on.
        if (ev.task.progress?.percent === 30) release();
      }
    }
    // The first report may have come before the watch was live (then the task carried it);
    // the second, made while it watched, arrives as an event.
    expect(progress.at(-1)).toEqual([70, 'step two']);
    expect(progress.every(([p], i) => i === 0 || p > (progress[i - 1]?.[0] ?? 0))).toBe(true);
    expect(last).toBe(TaskStatus.SUCCEEDED);
    expect(runningProgress === undefined || runningProgress === 30).toBe(true);
    const got = await client.getTask({ id });
    expect(got.task?.progress).toMatchObject({ attempt: 1, percent: 70, message: 'step two' });
  });

  it('takes requires, rate_key, group and sticky_key, and returns them with why the task waits', async () => {
    const submitted = await client.submitTask({
      command: 'render scene-9',
      queue: 'grpc-routed',
      requires: { gpu: 'true', region: 'eu' },
      rateKey: 'acct-7',
      group: 'acme',
      stickyKey: 'cart-5',
    });
    expect(submitted.task).toMatchObject({
      requires: { gpu: 'true', region: 'eu' },
      rateKey: 'acct-7',
      group: 'acme',
      stickyKey: 'cart-5',
    });
    const got = await client.getTask({ id: submitted.task?.id as string });
    expect(got.task).toMatchObject({
      status: TaskStatus.PENDING,
      requires: { gpu: 'true', region: 'eu' },
      rateKey: 'acct-7',
      group: 'acme',
      stickyKey: 'cart-5',
      waitingFor:
        "no connected worker handles 'render' on queue 'grpc-routed' with labels gpu=true, region=eu",
    });
    const plain = await client.submitTask({ command: 'echo', queue: 'grpc-routed' });
    expect(plain.task).toMatchObject({ requires: {}, rateKey: '', group: '', stickyKey: '' });
  });

  it('honours run_at and idempotency keys, and cancels', async () => {
    const runAt = new Date(Date.now() + 3_600_000);
    const a = await client.submitTask({
      command: 'echo later',
      runAt: timestampFromDate(runAt),
      idempotencyKey: 'grpc-key',
    });
    const b = await client.submitTask({ command: 'echo later', idempotencyKey: 'grpc-key' });
    expect(b.created).toBe(false);
    expect(b.task?.id).toBe(a.task?.id);
    expect(Number(a.task?.scheduledAt?.seconds)).toBe(Math.floor(runAt.getTime() / 1000));
    const c = await client.cancelTask({ id: a.task?.id as string });
    expect(c.task?.status).toBe(TaskStatus.CANCELLED);
    const again = await client.cancelTask({ id: a.task?.id as string }).catch((e: unknown) => e);
    expect(ConnectError.from(again).code).toBe(Code.FailedPrecondition);
  });

  it('answers bad input with InvalidArgument naming the field, and unknown ids with NotFound', async () => {
    const empty = ConnectError.from(
      await client.submitTask({ command: '' }).catch((e: unknown) => e),
    );
    expect(empty.code).toBe(Code.InvalidArgument);
    expect(empty.rawMessage).toMatch(/command/);
    const queue = ConnectError.from(
      await client.submitTask({ command: 'echo', queue: 'bad queue!' }).catch((e: unknown) => e),
    );
    expect(queue.code).toBe(Code.InvalidArgument);
    expect(queue.rawMessage).toMatch(/queue/);
    const badId = ConnectError.from(await client.getTask({ id: 'nope' }).catch((e: unknown) => e));
    expect(badId.code).toBe(Code.InvalidArgument);
    const missing = ConnectError.from(
      await client.getTask({ id: '01900000-0000-7000-8000-000000000000' }).catch((e: unknown) => e),
    );
    expect(missing.code).toBe(Code.NotFound);
  });

  it('submits a workflow and watches its graph to the end', async () => {
    await inProcessWorker(coordinator, { queues: ['grpc-wf'] });
    const submitted = await client.submitWorkflow({
      name: 'grpc diamond',
      tasks: [
        { key: 'a', task: { command: 'echo a', queue: 'grpc-wf' } },
        { key: 'b', task: { command: 'echo b', queue: 'grpc-wf' }, dependsOn: ['a'] },
        { key: 'c', task: { command: 'echo c', queue: 'grpc-wf' }, dependsOn: ['a'] },
        { key: 'd', task: { command: 'echo d', queue: 'grpc-wf' }, dependsOn: ['b', 'c'] },
      ],
    });
    expect(submitted.created).toBe(true);
    expect(submitted.tasks.find((t) => t.key === 'd')?.status).toBe(TaskStatus.BLOCKED);
    const statuses: string[] = [];
    for await (const w of client.watchWorkflow({ id: submitted.id })) statuses.push(w.status);
    expect(statuses.at(-1)).toBe('succeeded');
    const got = await client.getWorkflow({ id: submitted.id });
    expect(got.tasks.every((t) => t.status === TaskStatus.SUCCEEDED)).toBe(true);
    const bad = await client
      .submitWorkflow({ tasks: [{ key: 'x', task: { command: 'echo' }, dependsOn: ['y'] }] })
      .catch((e: unknown) => ConnectError.from(e));
    expect(bad).toBeInstanceOf(ConnectError);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).rawMessage).toMatch(/no task has the key "y"/);
  });
});
