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
