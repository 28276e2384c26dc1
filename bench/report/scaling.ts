import { formatValue } from './markdown.js';

/** One drain run of the scaling curve. */
export interface ScalingRun {
  tasksPerSec: number;
  ownCpuMsPer1000: number | null;
  pgCpuMsPer1000: number | null;
}

/** One shape (coordinators × worker processes): the median of its runs. */
export interface ScalingPoint {
  coordinators: number;
  workers: number;
  tasksPerSec: number;
  ownCpuMsPer1000: number;
  pgCpuMsPer1000: number;
  runs: ScalingRun[];
}

/** What `npm run bench:scaling` writes to bench/results/scaling.json. */
export interface ScalingResults {
  date: string;
  tasks: number;
  repeat: number;
  concurrencyPerWorker: number;
  ceilingTasksPerSec: number | null;
  points: ScalingPoint[];
}

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706'];

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The curve as a markdown table: one row per worker count, one column per coordinator count. */
export function scalingMarkdown(r: ScalingResults): string {
  const coords = [...new Set(r.points.map((p) => p.coordinators))];
  const workers = [...new Set(r.points.map((p) => p.workers))];
  const at = (c: number, w: number): ScalingPoint | undefined =>
    r.points.find((p) => p.coordinators === c && p.workers === w);
  const lines = [
    `Drain of ${formatValue(r.tasks, 'tasks')} no-op tasks, ${r.concurrencyPerWorker} slots per worker process, median of ${r.repeat} runs (${r.date.slice(0, 10)}).`,
    '',
    `| worker processes | ${coords.map((c) => `${c} coordinator${c > 1 ? 's' : ''}: tasks/s (own CPU, PG CPU ms/1k)`).join(' | ')} |`,
    `|---:|${coords.map(() => '---:').join('|')}|`,
  ];
  for (const w of workers) {
    const cells = coords.map((c) => {
      const p = at(c, w);
      return p
        ? `${formatValue(p.tasksPerSec, 'tasks/s')} (${Math.round(p.ownCpuMsPer1000)}, ${Math.round(p.pgCpuMsPer1000)})`
        : '';
    });
    lines.push(`| ${w} | ${cells.join(' | ')} |`);
  }
  if (r.ceilingTasksPerSec !== null) {
    lines.push(
      '',
      `Raw SQL ceiling on the same database: ${formatValue(r.ceilingTasksPerSec, 'tasks/s')} tasks/s.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** A line chart: tasks/s against worker processes, one line per coordinator count. */
export function scalingSvg(r: ScalingResults): string {
  const W = 640;
  const H = 360;
  const left = 70;
  const right = 170;
  const top = 50;
  const bottom = 50;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const coords = [...new Set(r.points.map((p) => p.coordinators))];
  const maxW = Math.max(...r.points.map((p) => p.workers));
  const maxY = Math.max(...r.points.map((p) => p.tasksPerSec), r.ceilingTasksPerSec ?? 0) * 1.1;
  const step = 10 ** Math.floor(Math.log10(maxY / 4));
  const tick = [1, 2, 5, 10].map((m) => m * step).find((t) => maxY / t <= 6) ?? step * 10;
  const x = (w: number): number => left + (maxW <= 1 ? 0 : ((w - 1) / (maxW - 1)) * plotW);
  const y = (v: number): number => top + plotH - (v / maxY) * plotH;
  const parts: string[] = [
    `<text x="16" y="24" font-size="15" font-weight="bold">Drain rate vs worker processes (${formatValue(r.tasks, 'tasks')} tasks, ${r.concurrencyPerWorker} slots each)</text>`,
  ];
  for (let v = 0; v <= maxY; v += tick) {
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${esc(formatValue(v, 'tasks/s'))}</text>`,
    );
  }
  for (let w = 1; w <= maxW; w++) {
    parts.push(
      `<text x="${x(w)}" y="${top + plotH + 18}" font-size="11" text-anchor="middle">${w}</text>`,
    );
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${H - 12}" font-size="12" text-anchor="middle">worker processes</text>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#111"/>`,
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#111"/>`,
  );
  if (r.ceilingTasksPerSec !== null) {
    const cy = y(r.ceilingTasksPerSec);
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${cy}" y2="${cy}" stroke="#6b7280" stroke-dasharray="6 4"/>`,
      `<text x="${left + 6}" y="${cy - 6}" font-size="11" fill="#6b7280">raw SQL ceiling: ${esc(formatValue(r.ceilingTasksPerSec, 'tasks/s'))} tasks/s</text>`,
    );
  }
  coords.forEach((c, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const pts = r.points.filter((p) => p.coordinators === c).sort((a, b) => a.workers - b.workers);
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${x(p.workers).toFixed(1)},${y(p.tasksPerSec).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const p of pts) {
      parts.push(
        `<circle cx="${x(p.workers).toFixed(1)}" cy="${y(p.tasksPerSec).toFixed(1)}" r="3.5" fill="${color}"/>`,
      );
    }
    const ly = top + 10 + i * 18;
    parts.push(
      `<rect x="${left + plotW + 8}" y="${ly - 9}" width="12" height="12" fill="${color}"/>`,
      `<text x="${left + plotW + 24}" y="${ly + 1}" font-size="12">${c} coordinator${c > 1 ? 's' : ''}</text>`,
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
