import { describe, expect, it } from 'vitest';
import { handlerName, parseCommand } from './command.js';

describe('parseCommand', () => {
  it('takes the first word as the handler and the rest as arguments', () => {
    expect(parseCommand('echo hi there')).toEqual({ handler: 'echo', args: ['hi', 'there'] });
  });

  it('groups quoted words and unescapes', () => {
    expect(parseCommand(`resize "my file.png" 'a b' c\\ d`)).toEqual({
      handler: 'resize',
      args: ['my file.png', 'a b', 'c d'],
    });
  });

  it('ignores surrounding white space', () => {
    expect(parseCommand('  sleep\t100  ')).toEqual({ handler: 'sleep', args: ['100'] });
  });

  it('gives an empty handler for an empty command', () => {
    expect(parseCommand('   ')).toEqual({ handler: '', args: [] });
  });
});

describe('handlerName', () => {
  it.each([
    ['echo hi', 'echo'],
    ['  sleep 5', 'sleep'],
    ['noargs', 'noargs'],
    ['"quoted name" x', 'quoted name'],
    ['a\\ b c', 'a b'],
  ])('%s -> %s', (command, expected) => {
    expect(handlerName(command)).toBe(expected);
  });
});
