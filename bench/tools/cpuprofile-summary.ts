import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`): self time per function and per
 * package or source file, busy time only (idle excluded).
 *
 *   npx tsx bench/tools/cpuprofile-summary.ts [--top N] [--filter text] file.cpuprofile...
 *
 * The last table is inclusive time for functions whose location contains `--filter`
 * (default `taskq:`, i.e. this project's built code).
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function area(url: string): string {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return url;
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return `taskq:${url.slice(dist + 6)}`;
  return basename(url);
}

function summarise(file: string, top: number, filter: string): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const fn = new Map<string, number>();
  const areas = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const key = `${name} ${area(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const a = name.startsWith('(') ? name : area(n.callFrame.url);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  // Inclusive time: each sample counts once for every distinct function on its stack.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const us = p.timeDeltas[i] ?? 0;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n || n.callFrame.functionName === '(idle)') break;
      const key = `${n.callFrame.functionName || '(anonymous)'} ${area(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
      if (!seen.has(key)) incl.set(key, (incl.get(key) ?? 0) + us);
      seen.add(key);
    }
  });
  const ms = (us: number): string => (us / 1000).toFixed(0).padStart(7);
  const pct = (us: number): string => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  process.stdout.write(
    `\n== ${basename(file)}: busy ${ms(busy)} ms, idle ${ms(idle)} ms of ${ms(p.endTime - p.startTime)} ms\n`,
  );
  process.stdout.write('-- by package / file (self time)\n');
  for (const [k, us] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${ms(us)} ms ${pct(us)}  ${k}\n`);
  }
  process.stdout.write('-- by function (self time)\n');
  for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${ms(us)} ms ${pct(us)}  ${k}\n`);
  }
  process.stdout.write(`-- taskq functions, inclusive (${filter})\n`);
  for (const [k, us] of [...incl]
    .filter(([k]) => k.includes(filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    process.stdout.write(`${ms(us)} ms ${pct(us)}  ${k}\n`);
  }
}

const args = process.argv.slice(2);
let top = 25;
let filter = 'taskq:';
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (args[i] === '--filter') filter = args[++i] ?? filter;
  else files.push(args[i] as string);
}
if (files.length === 0) {
  process.stderr.write('usage: cpuprofile-summary [--top N] file.cpuprofile...\n');
  process.exitCode = 2;
}
for (const f of files) summarise(f, top, filter);
