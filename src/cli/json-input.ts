import { readFileSync } from 'node:fs';
import { UsageError } from './client-options.js';

/**
 * JSON documents the CLI reads from a file or stdin (`-`), such as a workflow to submit. A
 * document that does not parse is a UsageError that names the line and column of the first
 * mistake and what was expected there: V8's own messages name no position for some mistakes
 * (`Unexpected token '}'`), and word the others differently from one Node release to the next.
 */

/** Reads `source` (a path, or `-` for stdin) and parses it. @throws UsageError */
export function readJsonInput(source: string, what: string): unknown {
  const name = source === '-' ? 'stdin' : source;
  let text: string;
  try {
    text = readFileSync(source === '-' ? 0 : source, 'utf8');
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new UsageError(`cannot read ${what} from ${name}: ${reason}`);
  }
  // Editors on Windows may start a UTF-8 file with a byte-order mark, which JSON.parse refuses.
  return parseJsonInput(text.replace(/^\uFEFF/, ''), name, what);
}

/** Parses `text`, read from `name`. @throws UsageError naming the position of the mistake */
export function parseJsonInput(text: string, name: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const mistake = findJsonMistake(text);
    const { line, column } = lineAndColumn(text, mistake.offset);
    throw new UsageError(
      `${name} is not JSON: line ${line}, column ${column}: ${mistake.expected}; ${what} must be one JSON document`,
    );
  }
}

/** Where a JSON text first goes wrong, and what would have been right there. */
export interface JsonMistake {
  offset: number;
  expected: string;
}

/**
 * Finds the first mistake in a JSON text that JSON.parse refused, by reading it as the JSON
 * grammar (RFC 8259) does. The text is known to be wrong, so the scan never succeeds.
 */
export function findJsonMistake(text: string): JsonMistake {
  let i = 0;
  const fail = (expected: string, at = i): never => {
    throw Object.assign(new Error(expected), { mistake: { offset: at, expected } });
  };
  const space = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const found = (): string =>
    i >= text.length ? 'the end of the text' : `'${text[i] === '\n' ? '\\n' : text[i]}'`;
  const string = (): void => {
    i++; // the opening quote
    for (;;) {
      if (i >= text.length) fail("a closing '\"' before the end of the text");
      const c = text[i] as string;
      if (c === '"') return void i++;
      if (c < ' ') fail(`a closing '"' or an escaped control character, found ${found()}`);
      if (c === '\\') {
        const e = text[i + 1] ?? '';
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6)))
            fail('four hex digits after \\u', i + 2);
          i += 6;
        } else if ('"\\/bfnrt'.includes(e) && e !== '') i += 2;
        else fail(`an escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u), found '\\${e}'`);
      } else i++;
    }
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{') {
      i++;
      space();
      if (text[i] === '}') return void i++;
      for (;;) {
        space();
        if (text[i] !== '"') fail(`a property name in double quotes, found ${found()}`);
        string();
        space();
        if (text[i] !== ':') fail(`':' after the property name, found ${found()}`);
        i++;
        value();
        space();
        if (text[i] === '}') return void i++;
        if (text[i] !== ',') fail(`',' or '}' after a property value, found ${found()}`);
        i++;
      }
    }
    if (c === '[') {
      i++;
      space();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        space();
        if (text[i] === ']') return void i++;
        if (text[i] !== ',') fail(`',' or ']' after an array element, found ${found()}`);
        i++;
      }
    }
    if (c === '"') return string();
    const literal = /^(?:true|false|null)/.exec(text.slice(i, i + 5));
    if (literal) return void (i += literal[0].length);
    const number = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i));
    if (number && number[0] !== '-') return void (i += number[0].length);
    fail(`a value (an object, array, string, number, true, false or null), found ${found()}`);
  };
  try {
    value();
    space();
    if (i < text.length) fail(`the end of the text after the value, found ${found()}`);
  } catch (err) {
    const mistake = (err as { mistake?: JsonMistake }).mistake;
    if (mistake) return mistake;
    throw err;
  }
  // JSON.parse refused what this reading accepts (a byte-order mark, say): name the start.
  return { offset: 0, expected: 'JSON text' };
}

/** 1-based line and column of `offset`. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}
