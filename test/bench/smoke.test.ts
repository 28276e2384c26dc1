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

  it('runs every scenario for every available system', { timeout: 300_000 }, async () => {
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
      'fanout',
      'dag',
      'routing',
      'ratelimit',
      'groups',
    ]);
    for (const system of ALWAYS) expect(results.systems).toContain(system);
    // Every system either ran or was skipped with a reason.
    expect([...results.systems, ...Object.keys(results.skipped)].sort()).toEqual(
      [...SYSTEMS].sort(),
    );
    for (const why of Object.values(results.skipped)) expect(why).toMatch(/\w/);
    // A headline has a number from every system, except where the system does not offer
    // the feature, which the results say, with a reason.
    for (const row of results.rows.filter((r) => r.primary)) {
      for (const system of results.systems) {
        if (row.notOffered[system] !== undefined) {
          expect(row.values[system], `${row.key} for ${system}`).toBeNull();
          expect(row.notOffered[system]).toMatch(/\w/);
        } else {
          expect(Number.isFinite(row.values[system]), `${row.key} for ${system}`).toBe(true);
        }
      }
    }
    // Ours offers every feature the bench measures.
    for (const row of results.rows) expect(row.notOffered.taskq).toBeUndefined();
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

  it('runs every fan-out and DAG to its join, with every result handed over', () => {
    for (const [shape, size] of [
      ['fanout', results.sizes.fanoutChildren],
      ['dag', results.sizes.dagNodes],
    ] as const) {
      for (const [system, r] of Object.entries(results.raw[shape])) {
        for (const round of r.rounds) {
          expect(round.done, `${shape} ${system}`).toBe(size);
          if (round.resultsSeen !== null) expect(round.resultsSeen).toBe(size);
          // In order: released, the last child or node done, the join started, then done.
          expect(round.lastDone).toBeGreaterThanOrEqual(round.releasedAt);
          expect(round.doneAt).toBeGreaterThanOrEqual(round.joinStartedAt);
        }
      }
    }
    expect(results.raw.fanout.taskq?.rounds.length).toBeGreaterThan(0);
    expect(results.raw.dag.taskq?.rounds.length).toBeGreaterThan(0);
  });

  it('prices routing, a rate limit and groups against plain drains that lose no task', () => {
    for (const scenario of ['routing', 'ratelimit', 'groups'] as const) {
      for (const [system, r] of Object.entries(results.raw[scenario])) {
        for (const d of [...r.plain, ...r.feature]) {
          expect(d.done, `${scenario} ${system}`).toBe(results.sizes.drainTasks);
          expect(d.lost, `${scenario} ${system}`).toBe(0);
        }
        expect(r.ratio, `${scenario} ${system}`).toBeGreaterThan(0);
      }
      expect(results.raw[scenario].taskq, scenario).toBeDefined();
    }
    // BullMQ's own limiter runs; graphile-worker has none, and says why.
    expect(results.raw.ratelimit['bullmq-postgres']).toBeDefined();
    expect(results.raw.notOffered.ratelimit?.['graphile-worker-0.17']).toMatch(/\w/);
  });

  it('starts no scheduled task early', () => {
    for (const system of results.systems) expect(results.raw.scheduled[system]?.early).toBe(0);
  });

  it('writes the JSON, the markdown table and the chart, naming versions and Node', () => {
    const json = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
    expect(json.mode).toBe('smoke');
    const md = readFileSync(join(out, 'latest.md'), 'utf8');
    expect(md).toContain('| Drain |');
    expect(md).toContain('not offered');
    // Each system is named with its version and the Node it ran on (CI's second run is
    // all on Node 24).
    expect(md).toMatch(/graphile-worker 0\.17\.\d+ on|graphile-worker 0\.17\.\d+, Node \d+\./);
    expect(readFileSync(join(out, 'chart.svg'), 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*<\/svg>\n$/);
  });
});
