import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toSvg } from '../report/chart.js';
import { toMarkdown } from '../report/markdown.js';
import type { BenchResults } from '../report/model.js';
import { buildRows } from '../report/rows.js';
import { DEFAULT_OUT_DIR } from '../runner.js';

/**
 * Re-renders latest.md and chart.svg (and the rows of latest.json) from the raw figures in
 * latest.json, after a change to the report code, without measuring again.
 *
 *   npx tsx bench/tools/render.ts [results-folder]
 */
const dir = process.argv[2] ?? DEFAULT_OUT_DIR;
const file = join(dir, 'latest.json');
const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
results.rows = buildRows(results.raw, results.systems);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(dir, 'latest.md'), toMarkdown(results));
writeFileSync(join(dir, 'chart.svg'), toSvg(results));
process.stdout.write(`rendered ${join(dir, 'latest.md')} and chart.svg\n`);
