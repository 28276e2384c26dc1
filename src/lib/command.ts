/**
 * A task's command is free text. Its first word names the handler and the remaining words
 * are the handler's arguments. Words split on white space; single and double quotes group
 * words, and a backslash escapes the next character outside single quotes.
 */
export interface ParsedCommand {
  /** The handler name: the first word. Empty only for an empty command. */
  handler: string;
  /** The remaining words, unquoted. */
  args: string[];
}

/** Splits a command into its handler name and arguments. */
export function parseCommand(command: string): ParsedCommand {
  const words = splitWords(command);
  return { handler: words[0] ?? '', args: words.slice(1) };
}

/** The handler name alone; cheaper than {@link parseCommand} for the common case. */
export function handlerName(command: string): string {
  const trimmed = command.trimStart();
  const m = /^[^\s'"\\]+/.exec(trimmed);
  // A quoted or escaped first word needs the full parser.
  if (m && (trimmed.length === m[0].length || /\s/.test(trimmed[m[0].length] ?? ''))) return m[0];
  return parseCommand(command).handler;
}

function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
