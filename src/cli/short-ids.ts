import { UsageError } from './client-options.js';

const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** How far back a short id is looked for. */
export const SHORT_ID_SCAN = 2000;

/** What a short id is resolved among: a kind of record, and its ids, newest first. */
export interface IdSource {
  /** `task`, `workflow`: for the messages. */
  noun: string;
  /** The command that shows full ids, for the message when none matches. */
  listCommand: string;
  /** The ids, newest first; read until the answer is known. */
  ids: () => AsyncIterable<string>;
}

/**
 * An id as typed: the full id, or the short form tables show (`…1d703c4e`, or any unique end
 * or start of at least 6 characters), looked up among the newest {@link SHORT_ID_SCAN}.
 * @throws UsageError when it matches none, or more than one.
 */
export async function resolveShortId(typed: string, source: IdSource): Promise<string> {
  if (FULL_ID.test(typed)) return typed;
  const frag = typed
    .replace(/^[….]+/, '')
    .replace(/-/g, '')
    .toLowerCase();
  if (!/^[0-9a-f]{6,32}$/.test(frag))
    throw new UsageError(
      `<id> must be a ${source.noun} id such as 01a2192c-2896-76b4-a647-d82d631d703c (got "${typed}")`,
    );
  const found: string[] = [];
  let seen = 0;
  for await (const id of source.ids()) {
    const hex = id.replace(/-/g, '');
    if (hex.endsWith(frag) || hex.startsWith(frag)) found.push(id);
    if (++seen >= SHORT_ID_SCAN || found.length > 1) break;
  }
  if (found.length === 1) return found[0] as string;
  if (found.length === 0)
    throw new UsageError(
      `no ${source.noun} among the newest ${SHORT_ID_SCAN} has an id matching "${typed}"; give the full id (${source.listCommand} shows it)`,
    );
  throw new UsageError(`"${typed}" matches more than one ${source.noun}; give more of the id`);
}
