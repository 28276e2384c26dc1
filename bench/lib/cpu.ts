import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';

/** /proc reports CPU time in USER_HZ ticks, which Linux fixes at 100 per second. */
const TICK_MS = 10;

interface ProcStat {
  ppid: number;
  cpuMs: number;
  /** CPU of its children that have exited and been waited for. */
  reapedChildrenMs: number;
}

function readStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces; fields are counted after its closing parenthesis.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      ppid: Number(f[1]),
      cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS,
      reapedChildrenMs: (Number(f[13]) + Number(f[14])) * TICK_MS,
    };
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used, in ms, or null where /proc is missing. */
export function processCpuMs(pid: number): number | null {
  return readStat(pid)?.cpuMs ?? null;
}

/** CPU time this process has used, in ms. */
export function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Reads a server's CPU time so far, in ms, or null where it cannot. */
export interface CpuMeter {
  read(): number | null;
}

/**
 * A meter of one local process's CPU time (e.g. redis-server); null when `pid` is null or
 * the process is not readable here.
 */
export function processCpuMeter(pid: number | null): CpuMeter {
  return { read: () => (pid === null ? null : processCpuMs(pid)) };
}

/**
 * A meter of the PostgreSQL server's CPU time: the postmaster and every process it
 * started (backends, WAL writer, checkpointer…), those still running and those that have
 * exited (a backend whose connection closed, an autovacuum worker), which the postmaster
 * has reaped. Works only when the server runs on this machine and /proc is readable;
 * otherwise `read()` gives null. On a shared server it counts everyone's queries, so it
 * means something only on a server the bench has alone.
 */
export async function postgresCpuMeter(pool: pg.Pool): Promise<CpuMeter> {
  let postmaster: number | null = null;
  try {
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const backend = rows[0] ? readStat(rows[0].pid) : null;
    postmaster = backend ? backend.ppid : null;
  } catch {
    postmaster = null;
  }
  return {
    read() {
      if (postmaster === null) return null;
      const own = readStat(postmaster);
      if (own === null) return null;
      // Without the reaped children, a backend that ends between two readings would take its
      // CPU out of the total (figures came out negative).
      let total = own.cpuMs + own.reapedChildrenMs;
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        const s = readStat(Number(entry));
        if (s && s.ppid === postmaster) total += s.cpuMs;
      }
      return total;
    },
  };
}
