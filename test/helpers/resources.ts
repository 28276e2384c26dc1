/**
 * Everything a test starts (child processes, in-process services, workers) registers here,
 * so that it is stopped after the test (or after the file, for scope 'file').
 */
export interface Resource {
  name: string;
  isOpen(): boolean;
  stop(): Promise<void>;
}

type Scope = 'test' | 'file';
const resources = new Map<Resource, Scope>();
const STOP_TIMEOUT_MS = 20_000;

export function track(resource: Resource, scope: Scope = 'test'): void {
  resources.set(resource, scope);
}

/**
 * Stops every resource of `scope` still running, newest first (workers before the
 * coordinator they talk to), and forgets them. Whatever is started while stopping (a
 * supervisor replacing a process it saw exit) is stopped too, and named as started late.
 * @returns the names of those that failed to stop in time, or that were started during
 * the stop.
 */
export async function stopAll(scope: Scope): Promise<string[]> {
  const stuck = await stopRound(scope);
  for (let round = 0; round < 3; round++) {
    const late = [...resources].filter(([r, s]) => s === scope && r.isOpen()).map(([r]) => r);
    if (late.length === 0) break;
    stuck.push(...late.map((r) => `${r.name} (started while stopping)`));
    await stopRound(scope);
  }
  return stuck;
}

async function stopRound(scope: Scope): Promise<string[]> {
  const list = [...resources]
    .filter(([, s]) => s === scope)
    .map(([r]) => r)
    .reverse();
  for (const r of list) resources.delete(r);
  const stuck: string[] = [];
  for (const r of list) {
    if (!r.isOpen()) continue;
    const ok = await Promise.race([
      r.stop().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_TIMEOUT_MS).unref()),
    ]);
    if (!ok) stuck.push(r.name);
  }
  return stuck;
}
