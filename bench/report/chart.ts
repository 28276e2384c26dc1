import { SYSTEMS, type SystemName } from '../lib/options.js';
import { formatValue, systemLabel } from './markdown.js';
import type { BenchResults, ResultRow } from './model.js';

const COLORS: Record<SystemName, string> = {
  taskq: '#2563eb',
  'graphile-worker-0.17': '#86efac',
  'graphile-worker-0.18': '#16a34a',
  'pg-boss-12': '#d97706',
  'bullmq-redis': '#dc2626',
  'bullmq-postgres': '#7c3aed',
};

const THROUGHPUT_KEYS = [
  'enqueue-bulk.rate',
  'enqueue-single.rate',
  'drain.rate',
  'scale.small',
  'scale.large',
];
const LATENCY_KEYS = ['latency.p50', 'latency.p99', 'scheduled.p50', 'scheduled.p99'];
const WORKFLOW_KEYS = ['fanout.total', 'fanout.fanin', 'dag.total', 'dag.fanin'];
const FEATURE_KEYS = ['routing.ratio', 'ratelimit.ratio', 'groups.ratio'];

const WIDTH = 860;
const LABEL_W = 250;
const BAR_H = 14;
const GROUP_GAP = 14;
const PLOT_W = WIDTH - LABEL_W - 90;

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Panel {
  title: string;
  rows: ResultRow[];
  /** Bar length in [0, 1] for a value within its row. */
  scale: (v: number, row: ResultRow) => number;
  /** A line under the panel. */
  note?: string;
}

/** Bar length in [0.005, 1] on a log axis from 10^logMin to 10^logMax. */
function logScale(logMin: number, logMax: number): (v: number) => number {
  return (v) => {
    const x = (Math.log10(Math.max(v, 10 ** logMin)) - logMin) / (logMax - logMin);
    return Math.min(1, Math.max(0.005, x));
  };
}

/**
 * A hand-written SVG of the headline figures: throughput (bars scaled to the best system
 * of each row), latency (one log axis from 0.1 ms to 10 s), workflows (log axis, 1 ms to
 * 100 s) and what a feature costs the drain (its rate ÷ the plain drain's).
 */
export function toSvg(r: BenchResults): string {
  const systems = SYSTEMS.filter((s) => r.systems.includes(s));
  const byKey = new Map(r.rows.map((row) => [row.key, row]));
  const rows = (keys: string[]): ResultRow[] =>
    keys.flatMap((k) => {
      const row = byKey.get(k);
      return row ? [row] : [];
    });
  const panels: Panel[] = [
    {
      title: 'Throughput, tasks/s (bars relative to the best system in each row)',
      rows: rows(THROUGHPUT_KEYS),
      ...(r.raw.ceiling
        ? {
            note: `Raw SQL ceiling (claim + complete loop, no queue library): ${formatValue(r.raw.ceiling.tasksPerSec, 'tasks/s')} tasks/s`,
          }
        : {}),
      scale: (v, row) => {
        const best = Math.max(...Object.values(row.values).map((x) => x ?? 0));
        return best > 0 ? Math.max(0, v) / best : 0;
      },
    },
    {
      title: 'Latency, ms (log scale, 0.1 ms to 10 s; lower is better)',
      rows: rows(LATENCY_KEYS),
      scale: logScale(-1, 4),
    },
    {
      title: 'Workflows, ms (log scale, 1 ms to 100 s; lower is better)',
      rows: rows(WORKFLOW_KEYS),
      scale: logScale(0, 5),
    },
    {
      title:
        'Feature cost: drain rate with the feature ÷ plain drain of the same run (1.00 = free)',
      rows: rows(FEATURE_KEYS),
      scale: (v, row) => {
        const top = Math.max(1.25, ...Object.values(row.values).map((x) => x ?? 0));
        return Math.max(0, v) / top;
      },
    },
  ];
  const parts: string[] = [];
  let y = 30;
  parts.push(
    `<text x="16" y="${y}" font-size="16" font-weight="bold">Task Queue benchmark (${esc(r.mode)}, ${esc(r.environment.date.slice(0, 10))}, ${r.environment.cpus} cores)</text>`,
  );
  y += 20;
  // Two legend entries a line: each names the release and the Node it ran on.
  systems.forEach((s, i) => {
    const lx = 16 + (i % 2) * (WIDTH / 2);
    if (i > 0 && i % 2 === 0) y += 18;
    parts.push(`<rect x="${lx}" y="${y - 10}" width="12" height="12" fill="${COLORS[s]}"/>`);
    parts.push(`<text x="${lx + 16}" y="${y}" font-size="12">${esc(systemLabel(r, s))}</text>`);
  });
  y += 16;
  for (const panel of panels) {
    if (panel.rows.length === 0) continue;
    y += 18;
    parts.push(
      `<text x="16" y="${y}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`,
    );
    y += 10;
    for (const row of panel.rows) {
      const groupH = systems.length * BAR_H;
      parts.push(
        `<text x="${LABEL_W - 8}" y="${y + groupH / 2 + 4}" font-size="12" text-anchor="end">${esc(row.label)}</text>`,
      );
      systems.forEach((s, i) => {
        const v = row.values[s];
        const by = y + i * BAR_H;
        if ((v === null || v === undefined) && row.notOffered?.[s] !== undefined) {
          parts.push(
            `<text x="${LABEL_W + 2}" y="${by + BAR_H - 3}" font-size="10" fill="#888">not offered</text>`,
          );
          return;
        }
        if (v === null || v === undefined) return;
        const w = Math.max(1, panel.scale(v, row) * PLOT_W);
        parts.push(
          `<rect x="${LABEL_W}" y="${by + 1}" width="${w.toFixed(1)}" height="${BAR_H - 2}" fill="${COLORS[s]}"/>`,
        );
        parts.push(
          `<text x="${(LABEL_W + w + 4).toFixed(1)}" y="${by + BAR_H - 3}" font-size="10">${esc(formatValue(v, row.unit))}</text>`,
        );
      });
      y += groupH + GROUP_GAP;
    }
    if (panel.note) {
      parts.push(
        `<text x="${LABEL_W}" y="${y + 2}" font-size="11" fill="#555">${esc(panel.note)}</text>`,
      );
      y += 14;
    }
  }
  y += 6;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
