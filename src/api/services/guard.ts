import { UnavailableError, isTransientDbError } from '../../lib/errors.js';

/** Runs a database call, turning an outage into UnavailableError (503 at the edge). */
export async function guardDb<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isTransientDbError(err)) {
      throw new UnavailableError('the database is unreachable; try again shortly', { cause: err });
    }
    throw err;
  }
}
