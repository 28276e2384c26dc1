import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { childEnv, HANDLERS_FIXTURE } from '../helpers/cluster.js';
import { startTaskq } from '../helpers/processes.js';

/**
 * OpenTelemetry across processes: a scheduler, a coordinator and a worker export spans to a
 * small OTLP/HTTP receiver in this test, and one task's spans must form one trace with the
 * client's span at its root: submit (scheduler) → dispatch (coordinator) → run (worker), and
 * complete (coordinator) under submit.
 */

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  attributes: Record<string, unknown>;
}

const db = await useSchema();
const spans: Span[] = [];
let receiver: Server;
let endpoint = '';

/** OTLP/JSON ids are hex; accept base64 too, to be safe. */
function hex(id: unknown): string {
  if (typeof id !== 'string' || id === '') return '';
  return /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex');
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      try {
        const doc: any = JSON.parse(body);
        for (const rs of doc.resourceSpans ?? []) {
          const service =
            (rs.resource?.attributes ?? []).find((a: any) => a.key === 'service.name')?.value
              ?.stringValue ?? '';
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              const attributes = Object.fromEntries(
                (s.attributes ?? []).map((a: any) => [a.key, Object.values(a.value ?? {})[0]]),
              );
              spans.push({
                traceId: hex(s.traceId),
                spanId: hex(s.spanId),
                parentSpanId: hex(s.parentSpanId),
                name: s.name,
                service,
                attributes,
              });
            }
          }
        }
      } catch {
        // not JSON: ignore
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  endpoint = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((r) => receiver.close(() => r())));

describe('tracing', () => {
  it('links the scheduler, coordinator and worker spans of one task into the client trace', async () => {
    const env = {
      ...childEnv(db.schema),
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    const coordinator = startTaskq(
      'coordinator',
      ['coordinator', '--grpc-port', '0', '--http-port', '0'],
      env,
    );
    const grpcPort = (await coordinator.waitForMsg('coordinator started')).grpcPort as number;
    const scheduler = startTaskq('scheduler', ['scheduler', '--port', '0', '--no-cron'], env);
    const httpPort = (await scheduler.waitForMsg('scheduler started')).httpPort as number;
    const worker = startTaskq(
      'worker',
      [
        'worker',
        '--coordinator',
        `127.0.0.1:${grpcPort}`,
        '--handlers',
        HANDLERS_FIXTURE,
        '--queues',
        'traced',
      ],
      env,
    );
    await worker.waitForMsg('connected');

    const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpan = '00f067aa0ba902b7';
    const res = await fetch(`http://127.0.0.1:${httpPort}/v1/tasks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        traceparent: `00-${clientTrace}-${clientSpan}-01`,
      },
      body: JSON.stringify({ command: 'stamp', queue: 'traced' }),
    });
    const { id } = (await res.json()) as { id: string };
    const find = (prefix: string) =>
      spans.find((s) => s.name.startsWith(prefix) && s.attributes['taskq.task_id'] === id);
    const deadline = Date.now() + 30_000;
    while (
      !(
        find('taskq.submit') &&
        find('taskq.dispatch') &&
        find('taskq.run') &&
        find('taskq.complete')
      )
    ) {
      if (Date.now() > deadline)
        throw new Error(`spans so far: ${JSON.stringify(spans.map((s) => [s.service, s.name]))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const submit = find('taskq.submit') as Span;
    const dispatch = find('taskq.dispatch') as Span;
    const run = find('taskq.run') as Span;
    const complete = find('taskq.complete') as Span;
    for (const s of [submit, dispatch, run, complete]) expect(s.traceId).toBe(clientTrace);
    expect(submit).toMatchObject({
      service: 'taskq-scheduler',
      parentSpanId: clientSpan,
      name: 'taskq.submit stamp',
    });
    expect(dispatch).toMatchObject({ service: 'taskq-coordinator', parentSpanId: submit.spanId });
    expect(run).toMatchObject({
      service: 'taskq-worker',
      parentSpanId: dispatch.spanId,
      name: 'taskq.run stamp',
    });
    expect(complete).toMatchObject({ service: 'taskq-coordinator', parentSpanId: submit.spanId });
    expect(complete.attributes['taskq.status']).toBe('succeeded');
  });
});
