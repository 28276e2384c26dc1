import { readFileSync } from 'node:fs';
import { databaseUrlFromEnv } from '../config/index.js';
import { ConfigError } from '../lib/errors.js';
import { parseDuration } from '../lib/time.js';

/**
 * Option precedence for every command: flag > environment > config file > default.
 * The config file is JSON, named by --config or TASKQ_CONFIG, with top-level keys
 * `databaseUrl`, `schema` and one object per command (`coordinator`, `scheduler`, `worker`).
 */
export interface ConfigFile {
  databaseUrl?: string;
  schema?: string;
  coordinator?: Record<string, unknown>;
  scheduler?: Record<string, unknown>;
  worker?: Record<string, unknown>;
}

/** Reads the config file, if one is named. */
export function loadConfigFile(path: string | undefined): ConfigFile {
  const file = path ?? process.env.TASKQ_CONFIG;
  if (!file) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ConfigFile;
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
}

/** The database URL: --database-url, DATABASE_URL (or POSTGRES_*), then the config file. */
export function databaseUrl(
  flag: string | undefined,
  file: ConfigFile,
  required = true,
): string | undefined {
  const url = flag ?? databaseUrlFromEnv() ?? file.databaseUrl;
  if (!url && required) {
    throw new ConfigError(
      'no database: set DATABASE_URL (e.g. postgres://user:pass@host:5432/db) or pass --database-url. For a local try-out, run `npm start` (taskq dev), which brings its own PostgreSQL.',
    );
  }
  return url;
}

/** The first defined value, in precedence order. */
export function pick<T>(...values: Array<T | undefined>): T | undefined {
  return values.find((v) => v !== undefined);
}

/** An integer flag or variable, or a clear error naming it. */
export function int(value: string | number | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n))
    throw new ConfigError(`${name} must be a whole number (got "${value}")`);
  return n;
}

/** A duration flag or variable (`500ms`, `5s`), in ms; at most `maxDays` when given (timers cannot wait longer than 24.8 days). */
export function duration(
  value: string | number | undefined,
  name: string,
  maxDays?: number,
): number | undefined {
  if (value === undefined || value === '') return undefined;
  let ms: number;
  try {
    ms = parseDuration(value, name);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (maxDays !== undefined && ms > maxDays * 86_400_000) {
    throw new ConfigError(`${name} must be at most ${maxDays}d (got "${value}")`);
  }
  return ms;
}

/** A comma-separated list flag (also accepts repeated flags). */
export function list(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = (Array.isArray(value) ? value : [value])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
}

/**
 * Reads one command's options in precedence order: the flag (by its camelCase key), then
 * the environment variable, then the config file's section (same key), then undefined (the
 * component's default).
 */
export function optionReader(flags: object, file: Record<string, unknown>, section: string) {
  const flag = (key: string): unknown => (flags as Record<string, unknown>)[key];
  const env = process.env;
  return {
    string: (key: string, envName: string): string | undefined =>
      pick(flag(key) as string | undefined, env[envName], file[key] as string | undefined),
    int: (key: string, envName: string): number | undefined =>
      pick(
        int(flag(key) as string | undefined, `--${kebab(key)}`),
        int(env[envName], envName),
        int(file[key] as number | undefined, `${section}.${key}`),
      ),
    duration: (key: string, envName: string): number | undefined =>
      pick(
        duration(flag(key) as string | undefined, `--${kebab(key)}`),
        duration(env[envName], envName),
        duration(file[key] as string | number | undefined, `${section}.${key}`),
      ),
  };
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
