import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { progress } from './progress.js';
import { sleep } from './timing.js';

function cpuTimes(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** The share of all cores busy over the next `ms` (0..1), or null where /proc is missing. */
export async function cpuBusy(ms = 500): Promise<number | null> {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  if (!a || !b || b.total === a.total) return null;
  return (b.busy - a.busy) / (b.total - a.total);
}

/**
 * Waits (up to `maxWaitMs`) until the machine is quiet, i.e. less than `threshold` of its
 * cores are busy while the bench itself is idle, so one scenario's figures are not another
 * program's load. Returns the busy share last seen; warns when it never got quiet.
 */
export async function waitForQuiet(threshold = 0.25, maxWaitMs = 60_000): Promise<number | null> {
  const deadline = Date.now() + maxWaitMs;
  let warned = false;
  for (;;) {
    const busy = await cpuBusy();
    if (busy === null || busy < threshold) return busy;
    if (Date.now() > deadline) {
      progress(`warning: machine still ${Math.round(busy * 100)}% busy; measuring anyway`);
      return busy;
    }
    if (!warned) {
      progress(
        `machine ${Math.round(busy * 100)}% busy (load ${loadavg()[0]?.toFixed(2)}) with other work; waiting for quiet`,
      );
      warned = true;
    }
    await sleep(1000);
  }
}
