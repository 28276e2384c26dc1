import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useSchema } from '../helpers/db.js';
import { inProcessScheduler } from '../helpers/inprocess.js';

const db = await useSchema();

describe('docs/api.md', () => {
  it('covers every route of the OpenAPI document', async () => {
    const s = await inProcessScheduler(db, 'test', { cron: false });
    const doc = (await (await fetch(`http://127.0.0.1:${s.httpPort}/docs/json`)).json()) as {
      paths: Record<string, object>;
    };
    const text = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const missing = Object.keys(doc.paths)
      .map((p) => p.replace(/\{(\w+)\}/g, ':$1'))
      .filter((p) => !text.includes(p));
    expect(missing).toEqual([]);
  });
});

describe('the OpenAPI document', () => {
  it('describes routing, rate limits and fair share on the task and queue routes', async () => {
    const s = await inProcessScheduler(db, 'test', { cron: false });
    type Schema = { properties: Record<string, { description?: string }> };
    type Op = {
      requestBody?: { content: { 'application/json': { schema: Schema } } };
      responses: Record<string, { content: { 'application/json': { schema: Schema } } }>;
    };
    const doc = (await (await fetch(`http://127.0.0.1:${s.httpPort}/docs/json`)).json()) as {
      paths: Record<string, Record<string, Op>>;
    };
    const body = (path: string, method: string) =>
      doc.paths[path]?.[method]?.requestBody?.content['application/json'].schema.properties ?? {};
    const answer = (path: string, method: string) =>
      doc.paths[path]?.[method]?.responses['200']?.content['application/json'].schema.properties ??
      {};
    const described = (props: Record<string, { description?: string }>, names: string[]) =>
      Object.fromEntries(names.map((n) => [n, Boolean(props[n]?.description)]));
    const all = (names: string[]) => Object.fromEntries(names.map((n) => [n, true]));

    const taskFields = ['requires', 'rate_key', 'group'];
    expect(described(body('/v1/tasks', 'post'), taskFields)).toEqual(all(taskFields));
    expect(described(answer('/v1/tasks/{id}', 'get'), [...taskFields, 'waiting_for'])).toEqual(
      all([...taskFields, 'waiting_for']),
    );
    const queueFields = ['rate_limit', 'key_rate_limit', 'group_weights'];
    expect(described(body('/v1/queues/{name}', 'put'), queueFields)).toEqual(all(queueFields));
    expect(described(answer('/v1/queues/{name}', 'get'), queueFields)).toEqual(all(queueFields));
    // A list filter the route never had is not offered.
    const list = doc.paths['/v1/tasks']?.get as unknown as { parameters: Array<{ name: string }> };
    expect(list.parameters.map((p) => p.name)).not.toContain('requires');

    const text = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    expect(
      [...taskFields, ...queueFields, 'waiting_for'].filter((f) => !text.includes(`\`${f}\``)),
    ).toEqual([]);
  });
});
