import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { FIGURES_FILE } from './figures.js';

/**
 * Clears the chaos figures before the run, and afterwards prints them as the table that
 * docs/reliability.md carries (also written next to the figures as chaos-figures.md).
 */
export default function setup(): () => void {
  rmSync(FIGURES_FILE, { force: true });
  return () => {
    if (!existsSync(FIGURES_FILE)) return;
    const rows = readFileSync(FIGURES_FILE, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            scenario: string;
            metric: string;
            value: number | string;
            unit: string;
          },
      );
    const fmt = (v: number | string): string =>
      typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : v;
    const table = [
      '| scenario | measure | value |',
      '|---|---|---|',
      ...rows.map(
        (r) => `| ${r.scenario} | ${r.metric} | ${fmt(r.value)}${r.unit ? ` ${r.unit}` : ''} |`,
      ),
    ].join('\n');
    writeFileSync(FIGURES_FILE.replace(/\.jsonl$/, '.md'), table + '\n');
    process.stdout.write(`\nChaos figures\n${table}\n\n`);
  };
}
