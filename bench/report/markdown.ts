import { SYSTEMS, type SystemName } from '../lib/options.js';
import type { BenchResults, ResultRow } from './model.js';

interface SetupSummary {
  package?: string;
  version?: string | null;
  redis?: string | null;
  node?: string;
  workerProcesses?: number;
  workers?: number;
}

/** "graphile-worker 0.18.0, Node 24.22.3": a system as it ran, from the run's setups. */
export function systemLabel(r: BenchResults, s: SystemName): string {
  const setup = (r.setups[s] ?? {}) as SetupSummary;
  const name = s === 'taskq' ? 'Task Queue' : (setup.package ?? s);
  const backend = !s.startsWith('bullmq-')
    ? ''
    : s === 'bullmq-redis'
      ? ` on Redis${setup.redis ? ` ${setup.redis}` : ''}`
      : ' on PostgreSQL';
  const version = setup.version ? ` ${setup.version}` : '';
  const node = setup.node ? `, Node ${setup.node}` : '';
  return `${name}${version}${backend}${node}`;
}

/** A figure for a table cell: thousands separators, and decimals only where they matter. */
export function formatValue(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined) return '—';
  if (unit === '×') return v.toFixed(2);
  if (unit === 'ms') return Math.abs(v) < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
  if (unit === '%') return `${v.toFixed(0)}%`;
  return Math.round(v).toLocaleString('en-US');
}

/** 1.234 → "1.23×"; a small ratio keeps two significant digits (0.0049 → "0.0049×"). */
export function formatRatio(ratio: number | null): string {
  if (ratio === null) return '—';
  return ratio >= 0.1 ? `${ratio.toFixed(2)}×` : `${ratio.toPrecision(2)}×`;
}

function ratioCell(row: ResultRow): string {
  return formatRatio(row.ratio);
}

/** A row's figure for one system: the value, or "not offered" where the system lacks the feature. */
function valueCell(row: ResultRow, s: SystemName): string {
  const v = row.values[s];
  if ((v === null || v === undefined) && row.notOffered?.[s] !== undefined) return 'not offered';
  return formatValue(v, row.unit);
}

function metCell(row: ResultRow): string {
  if (!row.target) return '';
  const mark = row.target.met === null ? '?' : row.target.met ? 'met' : '**missed**';
  return `${row.target.text}: ${mark}`;
}

/**
 * Ours ÷ each peer, for the headline rows and the drain's CPU: one column per peer, so no
 * peer's figure hides behind the best one's.
 */
function perPeerRatios(r: BenchResults, systems: readonly SystemName[]): string[] {
  const peers = systems.filter((s) => s !== 'taskq');
  if (!systems.includes('taskq') || peers.length === 0) return [];
  const rows = r.rows.filter(
    (row) => (row.primary && row.scenario !== 'ceiling') || row.key.startsWith('drain.cpu'),
  );
  const lines = [
    '',
    '## Ours ÷ each peer',
    '',
    `| Scenario | ${peers.join(' | ')} |`,
    `| --- | ${peers.map(() => '---:').join(' | ')} |`,
  ];
  for (const row of rows) {
    const ours = row.values.taskq;
    const cells = peers.map((p) => {
      const theirs = row.values[p];
      if (ours === null || ours === undefined || !theirs) return '—';
      return formatRatio(ours / theirs);
    });
    lines.push(`| ${row.label} (${row.better === 'higher' ? '↑' : '↓'}) | ${cells.join(' | ')} |`);
  }
  lines.push('', 'For ↑ rows above 1 means ours is ahead; for ↓ rows below 1 means ours is ahead.');
  return lines;
}

/** How each system ran each feature scenario of the run, or why it did not. */
function featureLines(r: BenchResults, systems: readonly SystemName[]): string[] {
  const features = Object.entries(r.features ?? {});
  if (features.length === 0) return [];
  const lines = ['', '## Features', ''];
  for (const [scenario, bySystem] of features) {
    lines.push(`**${scenario}**`, '');
    for (const s of systems) {
      const f = bySystem[s];
      if (!f) continue;
      lines.push(
        f.offered ? `- \`${s}\`: ${f.how} (${f.source})` : `- \`${s}\`: not offered: ${f.why}`,
      );
    }
    lines.push('');
  }
  return lines;
}

/** The results as a markdown document: the table, then how the run was made. */
export function toMarkdown(r: BenchResults): string {
  const systems = SYSTEMS.filter((s) => r.systems.includes(s));
  const head = ['Scenario', 'Unit', ...systems, 'Ours ÷ best peer', 'Target (ours)'];
  const lines = [
    `# Benchmark results (${r.mode})`,
    '',
    `${r.environment.date}, ${r.environment.cpus} cores (${r.environment.cpuModel}), ` +
      `${r.environment.memoryGb} GB, Node ${r.environment.node}, PostgreSQL ${r.environment.postgres}, ` +
      `commit ${r.environment.commit.slice(0, 10)}${r.environment.dirtySrc ? ' (with uncommitted changes)' : ''}. ` +
      `Run took ${Math.round(r.seconds)} s.`,
    '',
    'Systems: ' + systems.map((s) => `\`${s}\` = ${systemLabel(r, s)}`).join('; ') + '.',
    ...Object.entries(r.skipped ?? {}).map(([s, why]) => `Skipped: \`${s}\`, ${why}.`),
    '',
    `| ${head.join(' | ')} |`,
    `| ${head.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`,
  ];
  for (const row of r.rows) {
    const cells = [
      row.label,
      `${row.unit} (${row.better === 'higher' ? '↑' : '↓'})`,
      ...systems.map((s) => valueCell(row, s)),
      ratioCell(row),
      metCell(row),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push(
    '',
    '↑ higher is better, ↓ lower is better. For ↓ rows a ratio below 1 means ours is better.',
    ...perPeerRatios(r, systems),
    ...featureLines(r, systems),
    '',
    '## Sizes',
    '',
    '```json',
    JSON.stringify(r.sizes, null, 2),
    '```',
    '',
    '## Configuration',
    '',
    '```json',
    JSON.stringify(r.setups, null, 2),
    '```',
    '',
  );
  return lines.join('\n');
}
