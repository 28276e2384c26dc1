import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { SYSTEMS, type SystemName } from '../../bench/lib/options.js';
import { runBench } from '../../bench/runner.js';
import type { BenchResults } from '../../bench/report/model.js';

/**
 * The systems a fresh machine runs after `npm ci` alone: ours, and the peers that run on
 * the project's Node from its devDependencies on PostgreSQL. The others need bench/peers
 * (Node 24, graphile-worker 0.18, pg-boss 12, ioredis) or Redis, and a smoke run skips them
 * when missing, downloading nothing.
 */
const ALWAYS: SystemName[] = ['taskq', 'graphile-worker-0.17', 'bullmq-postgres'];

/**
 * `npm run bench -- --smoke` end to end, against the test database: every scenario runs for
 * every system available, with tiny sizes. Nothing here is about speed; it proves the
 * harness works and that no drain loses a task.
 */
describe('bench --smoke', () => {
  const out = mkdtempSync(join(tmpdir(), 'taskq-bench-smoke-'));
  let results: BenchResults;

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs every scenario for every available system', { timeout: 115_000 }, async () => {
    results = await runBench({ mode: 'smoke', databaseUrl: inject('databaseUrl'), outDir: out });
    for (const [system, why] of Object.entries(results.skipped)) {
      process.stderr.write(`bench smoke: skipped ${system}: ${why}\n`);
    }
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
    for (const system of ALWAYS) expect(results.systems).toContain(system);
    // Every system either ran or was skipped with a reason.
    expect([...results.systems, ...Object.keys(results.skipped)].sort()).toEqual(
      [...SYSTEMS].sort(),
    );
    for (const why of Object.values(results.skipped)) expect(why).toMatch(/\w/);
    for (const row of results.rows.filter((r) => r.primary)) {
      for (const system of results.systems) {
        expect(Number.isFinite(row.values[system]), `${row.key} for ${system}`).toBe(true);
      }
    }
    expect(results.raw.ceiling?.tasksPerSec).toBeGreaterThan(0);
  });

  it('drains every task with every system: none lost, none left over', () => {
    for (const system of results.systems) {
      const drain = results.raw.drain[system];
      expect(drain?.tasks, system).toBe(results.sizes.drainTasks);
      expect(drain?.done, system).toBe(results.sizes.drainTasks);
      expect(drain?.lost, system).toBe(0);
    }
  });

  it('starts no scheduled task early', () => {
    for (const system of results.systems) expect(results.raw.scheduled[system]?.early).toBe(0);
  });

  it('writes the JSON, the markdown table and the chart, naming versions and Node', () => {
    const json = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
    expect(json.mode).toBe('smoke');
    const md = readFileSync(join(out, 'latest.md'), 'utf8');
    expect(md).toContain('| Drain |');
    expect(md).toMatch(/graphile-worker 0\.17\.\d+ on|graphile-worker 0\.17\.\d+, Node 20/);
    expect(readFileSync(join(out, 'chart.svg'), 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*<\/svg>\n$/);
  });
});
