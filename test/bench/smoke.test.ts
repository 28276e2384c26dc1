import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { SYSTEMS } from '../../bench/lib/options.js';
import { runBench } from '../../bench/runner.js';
import type { BenchResults } from '../../bench/report/model.js';

/**
 * `npm run bench -- --smoke` end to end, against the test database: every scenario runs for
 * every system with tiny sizes. Nothing here is about speed; it proves the harness works
 * and that our drain loses nothing.
 */
describe('bench --smoke', () => {
  const out = mkdtempSync(join(tmpdir(), 'taskq-bench-smoke-'));
  let results: BenchResults;

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs every scenario for every system', { timeout: 120_000 }, async () => {
    results = await runBench({ mode: 'smoke', databaseUrl: inject('databaseUrl'), outDir: out });
    const scenarios = new Set(results.rows.map((r) => r.scenario));
    expect([...scenarios]).toEqual([
      'enqueue-bulk',
      'enqueue-single',
      'drain',
      'latency',
      'scheduled',
      'scale',
      'ceiling',
    ]);
    for (const row of results.rows.filter((r) => r.primary)) {
      for (const system of SYSTEMS) {
        expect(Number.isFinite(row.values[system]), `${row.key} for ${system}`).toBe(true);
      }
    }
    expect(results.raw.ceiling?.tasksPerSec).toBeGreaterThan(0);
  });

  it('drains every task with ours: none lost, none left over', () => {
    const drain = results.raw.drain.taskq;
    expect(drain?.tasks).toBe(results.sizes.drainTasks);
    expect(drain?.done).toBe(results.sizes.drainTasks);
    expect(drain?.lost).toBe(0);
  });

  it('starts no scheduled task early', () => {
    for (const system of SYSTEMS) expect(results.raw.scheduled[system]?.early).toBe(0);
  });

  it('writes the JSON, the markdown table and the chart', () => {
    const json = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
    expect(json.mode).toBe('smoke');
    expect(readFileSync(join(out, 'latest.md'), 'utf8')).toContain('| Drain |');
    expect(readFileSync(join(out, 'chart.svg'), 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*<\/svg>\n$/);
  });
});
