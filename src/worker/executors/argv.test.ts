import { describe, expect, it } from 'vitest';
import { NonRetryableError } from '../types.js';
import { commandLineToArgv } from './argv.js';

describe('commandLineToArgv', () => {
  it.each([
    ['ls -la /tmp', ['ls', '-la', '/tmp']],
    ["ls 'my file'", ['ls', 'my file']],
    ['ls "my file" a\\ b', ['ls', 'my file', 'a b']],
    ['  date\t+%Y-%m-%d  ', ['date', '+%Y-%m-%d']],
    ["echo '$HOME' 'a && b' '#c' '*' \"?\"", ['echo', '$HOME', 'a && b', '#c', '*', '?']],
    ['echo "a\\"b" "\\$x"', ['echo', 'a"b', '$x']],
    ['echo ~ {a,b} [ab] x=1', ['echo', '~', '{a,b}', '[ab]', 'x=1']],
  ])('%s splits into words', (line, argv) => {
    expect(commandLineToArgv(line)).toEqual(argv);
  });

  it.each([
    ['ls && touch x', "shell operator '&&' is not allowed"],
    ['ls || touch x', "shell operator '||' is not allowed"],
    ['ls ; touch x', "shell operator ';' is not allowed"],
    ['ls | tee x', "shell operator '|' is not allowed"],
    ['ls & touch x', "shell operator '&' is not allowed"],
    ['(ls)', "shell operator '(' is not allowed"],
    ['ls <(touch x)', "shell operator '<(' is not allowed"],
    ['ls > x', "redirection '>' is not allowed"],
    ['ls >> x', "redirection '>>' is not allowed"],
    ['ls < x', "redirection '<' is not allowed"],
    ['ls 2>&1', "redirection '>&' is not allowed"],
    ['ls &> x', "redirection '&>' is not allowed"],
    ['cat <<< x', "redirection '<<<' is not allowed"],
    ['ls $(touch x)', "substitution '$' is not allowed"],
    ['ls `touch x`', 'a backtick (`) is not allowed'],
    ["ls '`quoted`'", 'a backtick (`) is not allowed'],
    ['ls ${IFS}x', "substitution '$IFS' is not allowed"],
    ['ls ${a:-b}', "substitution '${a:-b}' is not allowed"],
    ['ls $HOME', "substitution '$HOME' is not allowed"],
    ['ls "$HOME"', "substitution '$HOME' is not allowed"],
    ['ls $$', "substitution '$$' is not allowed"],
    ['ls\ntouch x', 'a newline is not allowed'],
    ['ls\rtouch x', 'a carriage return is not allowed'],
    ['ls \u0000x', 'a NUL byte is not allowed'],
    ['ls \u001b[2J', 'control character U+001B is not allowed'],
    ['ls *.txt', "glob pattern '*.txt' is not allowed"],
    ['ls file?', "glob pattern 'file?' is not allowed"],
    ['ls # touch x', "comment '# touch x' is not allowed"],
    ["ls 'abc", "an unclosed ' quote is not allowed"],
    ['ls "abc', 'an unclosed " quote is not allowed'],
    ['ls abc\\', 'a trailing backslash is not allowed'],
    ["ls $'\\x41'", "bash's $'…' quoting is not allowed"],
  ])('refuses %j', (line, message) => {
    let error: unknown;
    try {
      commandLineToArgv(line);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NonRetryableError);
    expect((error as Error).message).toContain(`${message} with --shell-allow: `);
    expect((error as Error).message).toContain('the command runs without a shell');
  });

  it('refuses an empty line', () => {
    expect(() => commandLineToArgv('   ')).toThrow('the command line is empty');
  });
});
