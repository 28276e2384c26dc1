import { describe, expect, it } from 'vitest';
import { cancelPayload, parseCancel, parseWake, wakePayload } from './channels.js';

describe('channel payloads', () => {
  it('read back what they write', () => {
    const due = new Date('2030-01-02T03:04:05.678Z');
    expect(parseWake(wakePayload(due, 'emails'))).toEqual({ dueMs: due.getTime() });
    expect(parseCancel(cancelPayload('01a2-id', 3))).toEqual({ taskId: '01a2-id', attempt: 3 });
  });

  it('turn what does not parse into a plain wake-up, or nothing', () => {
    expect(parseWake('')).toEqual({ dueMs: null });
    expect(parseWake('soon:q')).toEqual({ dueMs: null });
    expect(parseCancel('no-attempt')).toBeNull();
    expect(parseCancel(':1')).toBeNull();
  });
});
