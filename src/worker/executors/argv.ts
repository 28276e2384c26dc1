import { parse, type ParseEntry } from 'shell-quote';
import { NonRetryableError } from '../types.js';

/** The operators shell-quote reports that redirect input or output; the rest join commands. */
const REDIRECTIONS = new Set([
  '>',
  '>>',
  '<',
  '>&',
  '<&',
  '&>',
  '&>>',
  '<>',
  '>|',
  '<<',
  '<<-',
  '<<<',
]);

const WITHOUT_SHELL = 'the command runs without a shell';

const CONTROL_NAMES: Record<string, string> = {
  '\n': 'a newline',
  '\r': 'a carriage return',
  '\u0000': 'a NUL byte',
};

/**
 * Splits a command line into the argv of a program that runs without a shell, with sh's
 * quoting: single quotes, double quotes and backslashes group and escape (`ls 'my file'`
 * passes one argument, `my file`). The splitting is shell-quote's; what this adds is the
 * refusal of everything a shell would have done besides splitting, so that a command never
 * means something other than what runs:
 *
 * - operators (`&&`, `||`, `;`, `|`, `&`, `(`, `)`, process substitution) and redirections
 *   (`>`, `>>`, `<`, `2>&1`, here-documents);
 * - substitutions: `$VAR`, `${…}`, `$(…)`, `$$`, a `$` anywhere outside single quotes, and a
 *   backtick anywhere, even quoted;
 * - `*` and `?` outside quotes (globs), and `#` outside quotes (a comment);
 * - control characters (newline, carriage return, NUL, escape…), unclosed quotes, a trailing
 *   backslash, and bash's `$'…'` quoting.
 *
 * `~`, `{a,b}` and `[ab]` are passed as written: nothing is expanded.
 * @throws NonRetryableError saying what was refused and why.
 */
export function commandLineToArgv(line: string): [string, ...string[]] {
  const control = firstControlCharacter(line);
  if (control !== undefined) {
    const name =
      CONTROL_NAMES[control] ??
      `control character U+${control.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`;
    throw refused(name, `${WITHOUT_SHELL}, as one line`);
  }
  if (line.includes('`')) {
    throw refused(
      'a backtick (`)',
      `${WITHOUT_SHELL}, and in sh a backtick is command substitution (refused even in quotes)`,
    );
  }
  const quoting = quotingProblem(line);
  if (quoting) throw refused(quoting, WITHOUT_SHELL);

  // shell-quote expands variables through this callback; any call is a substitution.
  const substitutions: string[] = [];
  let entries: ParseEntry[];
  try {
    entries = parse<string>(line, (name) => {
      substitutions.push(name);
      return '';
    });
  } catch (err) {
    throw new NonRetryableError(
      `the command line cannot be split into words: ${(err as Error).message}`,
    );
  }
  const substitution = substitutions[0];
  if (substitution !== undefined) {
    throw refused(
      `substitution '${asWritten(substitution)}'`,
      `${WITHOUT_SHELL}, so nothing expands it; put a literal $ in single quotes`,
    );
  }

  const argv: string[] = [];
  for (const entry of entries) {
    if (typeof entry === 'string') {
      argv.push(entry);
    } else if ('comment' in entry) {
      throw refused(`comment '#${entry.comment}'`, `${WITHOUT_SHELL}; put a literal # in quotes`);
    } else if (entry.op === 'glob') {
      throw refused(
        `glob pattern '${entry.pattern}'`,
        `${WITHOUT_SHELL}, so nothing expands it; put a literal * or ? in quotes`,
      );
    } else if (REDIRECTIONS.has(entry.op)) {
      throw refused(`redirection '${entry.op}'`, WITHOUT_SHELL);
    } else {
      throw refused(`shell operator '${entry.op}'`, WITHOUT_SHELL);
    }
  }
  const [program, ...args] = argv;
  if (program === undefined) throw new NonRetryableError('the command line is empty');
  return [program, ...args];
}

/**
 * The first C0 control character other than tab, or DEL: each would end or split the line
 * for sh, or end the string for exec.
 */
function firstControlCharacter(line: string): string | undefined {
  for (const c of line) {
    const code = c.charCodeAt(0);
    if ((code < 0x20 && c !== '\t') || code === 0x7f) return c;
  }
  return undefined;
}

function refused(what: string, why: string): NonRetryableError {
  return new NonRetryableError(`${what} is not allowed with --shell-allow: ${why}`);
}

/** `$HOME` for a plain name, `${a:-b}` for anything else, `$` for a bare dollar. */
function asWritten(name: string): string {
  if (name === '') return '$';
  return /^(\w+|[*@#?$!-])$/.test(name) ? `$${name}` : `\${${name}}`;
}

/**
 * What shell-quote would silently drop or read as bash: an unclosed quote (it skips the quote
 * character), a trailing backslash, `$'…'`. Walks the line with sh's quoting rules.
 * @returns a description of the problem, or undefined when the quoting is sound.
 */
function quotingProblem(line: string): string | undefined {
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
    } else if (c === '\\') {
      if (i === line.length - 1) return 'a trailing backslash';
      i++;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '$' && line[i + 1] === "'") {
      return "bash's $'…' quoting";
    }
  }
  return quote ? `an unclosed ${quote} quote` : undefined;
}
