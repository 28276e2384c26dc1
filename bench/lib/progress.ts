const started = Date.now();

/** Seconds since the bench started, as `[  12.3s]`. */
function stamp(): string {
  return `[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s]`;
}

/** Writes one progress line to stderr (stdout stays clean for piping results). */
export function progress(line: string): void {
  process.stderr.write(`${stamp()} ${line}\n`);
}

/**
 * Runs `fn` and prints one line for it when it ends: the scenario, the system, how long it
 * took, and the summary `describe` makes of its result.
 */
export async function step<T>(
  scenario: string,
  system: string,
  fn: () => Promise<T>,
  describe: (result: T) => string,
): Promise<T> {
  const t0 = Date.now();
  try {
    const out = await fn();
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    progress(`${scenario.padEnd(15)} ${system.padEnd(16)} ${describe(out)}  (${secs}s)`);
    return out;
  } catch (err) {
    progress(`${scenario.padEnd(15)} ${system.padEnd(16)} FAILED: ${(err as Error).message}`);
    throw err;
  }
}

/** 12345.6 → "12,346". */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}
