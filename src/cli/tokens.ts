import type { Command } from 'commander';
import { ConfigError } from '../lib/errors.js';
import { createDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { grantSqlSubmit } from '../store/sql-access.js';
import {
  TOKEN_ROLES,
  createToken,
  listTokens,
  revokeToken,
  type TokenRole,
} from '../store/tokens.js';
import { fail } from './lifecycle.js';
import { databaseUrl, duration, loadConfigFile, pick } from './options.js';

interface DbFlags {
  config?: string;
  databaseUrl?: string;
  schema?: string;
  json?: boolean;
}

async function withDb<T>(f: DbFlags, fn: (db: Db) => Promise<T>): Promise<T> {
  const file = loadConfigFile(f.config);
  const db = createDb({
    url: databaseUrl(f.databaseUrl, file) as string,
    schema: pick(f.schema, process.env.TASKQ_SCHEMA, file.schema),
    max: 2,
  });
  try {
    await migrate(db);
    return await fn(db);
  } finally {
    await db.pool.end();
  }
}

const dbOptions = (c: Command): Command =>
  c
    .option('--config <file>', 'JSON config file (or TASKQ_CONFIG)')
    .option('--database-url <url>', 'PostgreSQL URL (or DATABASE_URL)')
    .option('--schema <name>', 'schema holding the tables (or TASKQ_SCHEMA)')
    .option('--json', 'print JSON');

/**
 * `taskq token create|ls|revoke`. These talk to the database directly (DATABASE_URL): the
 * first token cannot be made through an API that does not have a token yet.
 */
export function registerTokenCommands(program: Command): void {
  const token = program
    .command('token')
    .description('manage API tokens (as soon as one exists, every request needs one)');

  dbOptions(
    token
      .command('create')
      .description('create a token and print it once (only its hash is stored)')
      .requiredOption('--name <name>', 'a unique name, e.g. ci-submitter')
      .option('--role <role>', `one of ${TOKEN_ROLES.join(', ')}`, 'submit')
      .option('--expires <duration>', 'lifetime, e.g. 30d, 12h (default: never)')
      .option(
        '--rate-limit <n>',
        'requests per second for this token (default: the server default)',
      ),
  ).action(
    async (f: DbFlags & { name: string; role: string; expires?: string; rateLimit?: string }) => {
      try {
        if (!TOKEN_ROLES.includes(f.role as TokenRole)) {
          throw new ConfigError(
            `--role must be one of ${TOKEN_ROLES.join(', ')} (got "${f.role}")`,
          );
        }
        const expiresMs = f.expires ? parseLifetime(f.expires) : undefined;
        const rate = f.rateLimit === undefined ? null : Number(f.rateLimit);
        if (rate !== null && !(Number.isInteger(rate) && rate > 0))
          throw new ConfigError('--rate-limit must be a positive whole number');
        const out = await withDb(f, (db) =>
          createToken(db, {
            name: f.name,
            role: f.role as TokenRole,
            expiresAt: expiresMs ? new Date(Date.now() + expiresMs) : null,
            rateLimit: rate,
          }),
        ).catch((err: unknown) => {
          if ((err as { code?: string }).code === '23505')
            throw new ConfigError(
              `a token named "${f.name}" already exists; pick another --name or revoke it`,
            );
          throw err;
        });
        if (f.json) {
          process.stdout.write(
            JSON.stringify({ token: out.token, ...recordJson(out.record) }) + '\n',
          );
        } else {
          process.stdout.write(
            `${out.token}\n\nToken "${out.record.name}" (role ${out.record.role}${out.record.expiresAt ? `, expires ${out.record.expiresAt.toISOString()}` : ''}).\n` +
              'Store it now: it cannot be shown again. Send it as: Authorization: Bearer <token>\n',
          );
        }
      } catch (err) {
        fail(err);
      }
    },
  );

  dbOptions(token.command('ls').description('list tokens (never the tokens themselves)')).action(
    async (f: DbFlags) => {
      try {
        const tokens = await withDb(f, listTokens);
        if (f.json) {
          process.stdout.write(JSON.stringify(tokens.map(recordJson)) + '\n');
          return;
        }
        if (tokens.length === 0) {
          process.stdout.write(
            'no tokens: the API is open to this machine only. Create one with `taskq token create --name NAME --role admin`.\n',
          );
          return;
        }
        const rows = tokens.map((t) => [
          t.name,
          t.role,
          `${t.prefix}…`,
          t.revokedAt
            ? 'revoked'
            : t.expiresAt && t.expiresAt.getTime() <= Date.now()
              ? 'expired'
              : 'active',
          t.expiresAt ? t.expiresAt.toISOString() : 'never',
          t.lastUsedAt ? t.lastUsedAt.toISOString() : '-',
        ]);
        process.stdout.write(
          table(['NAME', 'ROLE', 'TOKEN', 'STATE', 'EXPIRES', 'LAST USED'], rows),
        );
      } catch (err) {
        fail(err);
      }
    },
  );

  dbOptions(
    token.command('revoke <name-or-id>').description('revoke a token (takes effect within 2 s)'),
  ).action(async (nameOrId: string, f: DbFlags) => {
    try {
      const done = await withDb(f, (db) => revokeToken(db, nameOrId));
      if (!done)
        throw new ConfigError(`no token named or with id "${nameOrId}"; see taskq token ls`);
      process.stdout.write(f.json ? '{"revoked":true}\n' : `revoked ${nameOrId}\n`);
    } catch (err) {
      fail(err);
    }
  });
}

/**
 * `taskq grant-sql <role>`: lets an application's database role enqueue inside its own
 * transactions (`<schema>.submit()`) and read tasks by id (`<schema>.task_status()`), with no
 * right on the tables.
 */
export function registerGrantSqlCommand(program: Command): void {
  dbOptions(
    program
      .command('grant-sql <role>')
      .description(
        "let a database role call the schema's submit() and task_status() functions (docs/integration.md)",
      ),
  ).action(async (role: string, f: DbFlags) => {
    try {
      await withDb(f, async (db) => {
        try {
          await grantSqlSubmit(db, role);
        } catch (err) {
          throw new ConfigError((err as Error).message);
        }
      });
      process.stdout.write(
        f.json
          ? `{"granted":${JSON.stringify(role)}}\n`
          : `granted ${role} submit() and task_status()\n`,
      );
    } catch (err) {
      fail(err);
    }
  });
}

function recordJson(t: {
  id: string;
  name: string;
  role: string;
  prefix: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}) {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    prefix: t.prefix,
    created_at: t.createdAt.toISOString(),
    expires_at: t.expiresAt?.toISOString() ?? null,
    revoked_at: t.revokedAt?.toISOString() ?? null,
    last_used_at: t.lastUsedAt?.toISOString() ?? null,
  };
}

/** `30d`, `12h`, `90m`, or a duration `parseDuration` takes. */
function parseLifetime(text: string): number {
  const days = /^(\d+)d$/.exec(text.trim());
  const ms = days ? Number(days[1]) * 86_400_000 : duration(text, '--expires');
  if (!ms || ms <= 0)
    throw new ConfigError('--expires must be a positive duration such as 30d, 12h or 90m');
  return ms;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
