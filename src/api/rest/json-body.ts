import { BadRequestError, ValidationError } from '../../lib/errors.js';
import { fieldPath } from '../schemas/describe.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a request body as JSON, refusing what JSON.parse would quietly change:
 * - bytes that are not UTF-8 (a lenient decoder turns them into U+FFFD);
 * - numbers a 64-bit float cannot hold as written: `1e400` (Infinity, stored as null),
 *   `1e-400` (0), `12345678901234567890` (…000). `0.1`, `1.0` and `1e308` are fine: they read
 *   back as the same number.
 * Text rules (NUL, lone surrogates, `__proto__`) are checked for every part of a request by
 * {@link checkStorable}; this adds what only the JSON text shows.
 * @returns the value, or undefined for an empty body.
 * @throws BadRequestError for bytes that are not UTF-8 or text that is not JSON;
 * ValidationError naming the field of an inexact number.
 */
export function parseJsonBody(body: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new BadRequestError('request body is not valid UTF-8');
  }
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`request body is not valid JSON (${(err as Error).message})`);
  }
  const bad = inexactNumber(text);
  if (bad) {
    const path = pathAt(text, bad.offset);
    const where = path.length > 0 ? fieldPath(path) : 'request body';
    throw new ValidationError(
      `${where}: the number ${bad.literal.slice(0, 40)} cannot be stored as written; numbers are 64-bit floats (about 15-17 significant digits, magnitude 5e-324 to 1.7e308): send it as a string`,
      path.length > 0 ? fieldPath(path) : undefined,
    );
  }
  return value;
}

// A number literal needs an exponent or 16 digits in a row to be anything but exact.
const MAYBE_INEXACT = /\d[eE]|\d{16}/;
const NUMBER_CHAR = /[0-9eE.+-]/;

/** The first number literal in valid JSON `text` that does not read back as written. */
function inexactNumber(text: string): { literal: string; offset: number } | null {
  if (!MAYBE_INEXACT.test(text)) return null;
  for (let i = 0; i < text.length; ) {
    const c = text[i] as string;
    if (c === '"') {
      i = endOfString(text, i);
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < text.length && NUMBER_CHAR.test(text[j] as string)) j++;
      const literal = text.slice(i, j);
      if (!readsBackAsWritten(literal)) return { literal, offset: i };
      i = j;
    } else {
      i++;
    }
  }
  return null;
}

/** The index just past the string literal that opens at `start`. */
function endOfString(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  for (;;) {
    let backslashes = 0;
    while (text[end - 1 - backslashes] === '\\') backslashes++;
    if (backslashes % 2 === 0) return end + 1;
    end = text.indexOf('"', end + 1);
  }
}

/** Whether the double a JSON number literal parses to has the same decimal value. */
function readsBackAsWritten(literal: string): boolean {
  const n = Number(literal);
  return Number.isFinite(n) && decimalKey(literal) === decimalKey(String(n));
}

/** A decimal number as `digits e exponent`, without leading or trailing zeros: equal values, equal keys. */
function decimalKey(decimal: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(decimal);
  if (!m) return decimal;
  const fraction = m[3] ?? '';
  let digits = ((m[2] ?? '') + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  const trailing = digits.length - digits.replace(/0+$/, '').length;
  digits = digits.slice(0, digits.length - trailing);
  const exponent = BigInt(m[4] ?? '0') - BigInt(fraction.length) + BigInt(trailing);
  return `${m[1]}${digits}e${exponent}`;
}

/**
 * The path (keys and indexes) of the value that starts at `offset` in valid JSON `text`.
 * Only walked when a number is refused, to name its field.
 */
function pathAt(text: string, offset: number): Array<string | number> {
  const frames: Array<{ key: string | number; object: boolean; expectKey: boolean }> = [];
  for (let i = 0; i < offset; ) {
    const c = text[i] as string;
    const top = frames.at(-1);
    if (c === '"') {
      const end = endOfString(text, i);
      if (top?.object && top.expectKey) top.key = JSON.parse(text.slice(i, end)) as string;
      i = end;
      continue;
    }
    if (c === '{') frames.push({ key: '', object: true, expectKey: true });
    else if (c === '[') frames.push({ key: 0, object: false, expectKey: false });
    else if (c === '}' || c === ']') frames.pop();
    else if (c === ':' && top) top.expectKey = false;
    else if (c === ',' && top) {
      if (top.object) top.expectKey = true;
      else top.key = (top.key as number) + 1;
    }
    i++;
  }
  return frames.map((f) => f.key);
}
