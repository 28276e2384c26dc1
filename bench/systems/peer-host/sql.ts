import pg from 'pg';

/**
 * The peer host's own small pool for set-up and counting (loading backlogs, counting rows),
 * apart from the library's pools. It uses the project's `pg`, whatever Node runs the host.
 */
export function harnessPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 2, application_name: 'bench-peer' });
  pool.on('error', () => undefined);
  return pool;
}

/** The first column of the first row as a number (a count). */
export async function countOf(
  pool: pg.Pool,
  text: string,
  values: unknown[] = [],
): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(text, values);
  return Number(rows[0]?.n ?? 0);
}

export { epochMs, inTransaction } from '../../lib/database.js';
