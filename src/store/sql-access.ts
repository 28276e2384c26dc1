import type { Db } from './db.js';

const ROLE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Lets a database role enqueue with `<schema>.submit()` and read tasks by id with
 * `<schema>.task_status()`, inside its own transactions, without any right on the tables:
 * both functions run with their owner's rights (SECURITY DEFINER).
 * @throws Error for a role name that is not a plain identifier (it is not quoted on purpose,
 * so that what is granted is exactly the role the operator named).
 */
export async function grantSqlSubmit(db: Db, role: string): Promise<void> {
  if (!ROLE.test(role))
    throw new Error(`role "${role}" must be a plain identifier: letters, digits and _`);
  await db.pool.query(`GRANT USAGE ON SCHEMA ${db.s} TO ${role}`);
  await db.pool.query(
    `GRANT EXECUTE ON FUNCTION ${db.s}.submit(text, jsonb, jsonb), ${db.s}.task_status(uuid) TO ${role}`,
  );
}
