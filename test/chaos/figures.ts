import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where chaos scenarios append their figures (one JSON object per line). */
export const FIGURES_FILE = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../.taskq/chaos-figures.jsonl',
);

/** Records one measured figure for the reliability table. */
export function recordFigure(
  scenario: string,
  metric: string,
  value: number | string,
  unit = '',
): void {
  mkdirSync(dirname(FIGURES_FILE), { recursive: true });
  appendFileSync(FIGURES_FILE, JSON.stringify({ scenario, metric, value, unit }) + '\n');
}

/** Percentile (nearest rank) of a list of numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ] as number;
}
