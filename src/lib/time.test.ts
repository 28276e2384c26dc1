import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { parseDuration, parseTimestamp } from './time.js';

describe('parseTimestamp', () => {
  it('accepts any offset and stores the UTC instant', () => {
    expect(parseTimestamp('2023-12-24T22:34:00+05:30', 'run_at').toISOString()).toBe(
      '2023-12-24T17:04:00.000Z',
    );
    expect(parseTimestamp('2023-04-01T15:04:05Z', 'run_at').toISOString()).toBe(
      '2023-04-01T15:04:05.000Z',
    );
    expect(parseTimestamp('2023-04-01T15:04:05.123456Z', 'run_at').toISOString()).toBe(
      '2023-04-01T15:04:05.123Z',
    );
  });

  it.each([
    'tomorrow',
    '2023-04-01',
    '2023-04-01T15:04:05', // no offset: ambiguous
    '2023-02-30T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '2999-01-01T00:00:00Z',
    '2023-13-01T00:00:00Z',
  ])('rejects %s and names the field', (text) => {
    expect(() => parseTimestamp(text, 'scheduled_at')).toThrow(ValidationError);
    expect(() => parseTimestamp(text, 'scheduled_at')).toThrow(/scheduled_at/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['250', 250],
    ['250ms', 250],
    ['5s', 5000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text, 'lease')).toBe(ms);
  });

  it('names the field on bad input', () => {
    expect(() => parseDuration('soon', 'lease')).toThrow(/lease must be a duration/);
  });
});
