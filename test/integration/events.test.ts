import { beforeAll, describe, expect, it } from 'vitest';
import { TasksApi } from '../../src/api/services/tasks.js';
import type { Coordinator } from '../../src/coordinator/index.js';
import { eventsChannel } from '../../src/store/events.js';
import { useSchema } from '../helpers/db.js';
import { inProcessCoordinator, inProcessScheduler, inProcessWorker } from '../helpers/inprocess.js';
import { readSse } from '../helpers/sse.js';

const db = await useSchema();
const api = new TasksApi(db);
let coordinator: Coordinator;
let base = '';

beforeAll(async () => {
  coordinator = await inProcessCoordinator(db, { scope: 'file' });
  // The SSE routes are served by the scheduler here: events cross processes via NOTIFY.
  const scheduler = await inProcessScheduler(db, 'file');
  base = `http://127.0.0.1:${scheduler.httpPort}`;
});

describe('live status over SSE', () => {
  it('streams a task through its whole life, with handler progress, on /v1/tasks/:id/events', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    await inProcessWorker(coordinator, { queues: ['sse'] }, (w) =>
      w.handle('report', async (_p, ctx) => {
        ctx.progress(40, 'downloading');
        await gate;
        ctx.progress(90, 'almost');
        await new Promise((r) => setTimeout(r, 50));
        return 'ok';
      }),
    );
    // Due in an hour, so the stream surely sees it pending; then run now, from the stream.
    const { task } = await api.submit({
      command: 'report',
      queue: 'sse',
      run_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    let ran = false;
    const res = await readSse(`${base}/v1/tasks/${task.id}/events`, (evs) => {
      if (!ran && evs.some((e) => e.event === 'task' && e.data.status === 'pending')) {
        ran = true;
        void api.runNow(task.id);
      }
      // The handler waits for the first progress report to be seen: a second report in
      // the same turn would replace it on the way (only the latest is kept).
      if (evs.some((e) => e.event === 'progress' && e.data.percent === 40)) release();
      return evs.some((e) => e.event === 'task' && e.data.status === 'succeeded');
    });
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/text\/event-stream/);
    const statuses = res.events.filter((e) => e.event === 'task').map((e) => e.data.status);
    expect(statuses[0]).toBe('pending');
    expect(statuses).toContain('running');
    expect(statuses.at(-1)).toBe('succeeded');
    const progress = res.events
      .filter((e) => e.event === 'progress')
      .map((e) => [e.data.percent, e.data.message]);
    expect(progress).toContainEqual([40, 'downloading']);
    const ids = res.events.map((e) => Number(e.id));
    expect(ids.every((id, i) => i === 0 || id >= (ids[i - 1] as number))).toBe(true);
    const final = await api.get(task.id);
    expect(final.task.progressPercent).toBe(90);
  });

  it('never sends an id that goes back, even for progress stamped after the change that follows it', async () => {
    // Progress is stamped by its own statement's clock, a completion by its transaction's
    // start: a report can carry a later time than the completion committed after it. Here the
    // report says an hour from now.
    const { task } = await api.submit({ command: 'nobody-here', queue: 'sse-clock' });
    let announced = false;
    let cancelled = false;
    const res = await readSse(`${base}/v1/tasks/${task.id}/events`, (evs) => {
      if (!announced && evs.some((e) => e.event === 'task')) {
        announced = true;
        const line = `${task.id},progress,0,${Date.now() + 3_600_000},sse-clock,50,late clock`;
        void db.pool.query('SELECT pg_notify($1, $2)', [eventsChannel(db), line]);
      }
      if (!cancelled && evs.some((e) => e.event === 'progress')) {
        cancelled = true;
        void api.cancel(task.id);
      }
      return evs.some((e) => e.event === 'task' && e.data.status === 'cancelled');
    });
    expect(res.events.map((e) => e.event)).toEqual(['task', 'progress', 'task']);
    const ids = res.events.map((e) => Number(e.id));
    expect(ids[1]).toBeLessThanOrEqual(ids[2] as number);
    expect(ids[0]).toBeLessThanOrEqual(ids[1] as number);
    // A client that stopped after the progress event hears of the cancel when it resumes.
    const resumed = await readSse(`${base}/v1/tasks/${task.id}/events`, (evs) => evs.length >= 1, {
      headers: { 'last-event-id': String(ids[1]) },
    });
    expect(resumed.events[0]).toMatchObject({ event: 'task', data: { status: 'cancelled' } });
  });

  it('resumes with Last-Event-ID: nothing new means no replay, a change means the current state', async () => {
    const { task } = await api.submit({ command: 'nobody-here', queue: 'sse-resume' });
    const first = await readSse(`${base}/v1/tasks/${task.id}/events`, (evs) => evs.length >= 1);
    const lastId = first.events[0]?.id as string;
    const quiet = await readSse(`${base}/v1/tasks/${task.id}/events`, () => false, {
      headers: { 'last-event-id': lastId },
      timeoutMs: 600,
    });
    expect(quiet.events).toEqual([]);
    await new Promise((r) => setTimeout(r, 5));
    await api.cancel(task.id);
    const resumed = await readSse(`${base}/v1/tasks/${task.id}/events`, (evs) => evs.length >= 1, {
      headers: { 'last-event-id': lastId },
    });
    expect(resumed.events.map((e) => [e.event, e.data.status])).toEqual([['task', 'cancelled']]);
  });

  it('/v1/events streams status changes of one queue only, and replays since Last-Event-ID', async () => {
    const before = Date.now() - 1;
    const other = await api.submit({ command: 'x', queue: 'sse-other' });
    const mine = await api.submit({ command: 'x', queue: 'sse-mine' });
    // A `gap` (re-read, events may have been missed) can come at any time; only status counts.
    const statuses = (evs: Array<{ event: string }>) => evs.filter((e) => e.event === 'status');
    const replay = await readSse(
      `${base}/v1/events?queue=sse-mine`,
      (evs) => statuses(evs).length >= 1,
      { headers: { 'last-event-id': String(before) } },
    );
    expect(
      statuses(replay.events).map((e: any) => [e.event, e.data.task_id, e.data.status]),
    ).toEqual([['status', mine.task.id, 'pending']]);

    const live = readSse(
      `${base}/v1/events?queue=sse-mine`,
      (evs) => evs.some((e) => e.data.status === 'cancelled'),
      {
        onOpen: async () => {
          await new Promise((r) => setTimeout(r, 100));
          await api.cancel(other.task.id);
          await api.cancel(mine.task.id);
        },
      },
    );
    const got = await live;
    expect(statuses(got.events).map((e: any) => [e.data.task_id, e.data.status])).toEqual([
      [mine.task.id, 'cancelled'],
    ]);
  });

  it('answers 404 for an unknown task and 400 for a bad id or queue, before any stream opens', async () => {
    expect(
      (await fetch(`${base}/v1/tasks/01900000-0000-7000-8000-000000000000/events`)).status,
    ).toBe(404);
    expect((await fetch(`${base}/v1/tasks/nope/events`)).status).toBe(400);
    expect((await fetch(`${base}/v1/events?queue=bad%20queue`)).status).toBe(400);
    const badId = await fetch(`${base}/v1/events?last_event_id=abc`);
    expect(badId.status).toBe(400);
    expect(((await badId.json()) as { error: { field: string } }).error.field).toBe(
      'last_event_id',
    );
  });
});
