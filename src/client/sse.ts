/** One Server-Sent Event. */
export interface SseMessage {
  event: string;
  data: string;
  /** The event's id, or undefined when it carried none. */
  id: string | undefined;
}

/**
 * Reads a `text/event-stream` body into messages, following the HTML standard's parsing
 * rules: lines end in LF, CRLF or CR; `:` starts a comment; one space after the colon is
 * dropped; a blank line dispatches. `retry:` values go to `onRetry`, and every chunk (comments
 * and keep-alives included) calls `onActivity`, so callers can tell a quiet stream from a dead one.
 */
export async function* readSse(
  body: AsyncIterable<Uint8Array>,
  hooks: { onActivity?: () => void; onRetry?: (ms: number) => void } = {},
): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buf = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  for await (const chunk of body) {
    hooks.onActivity?.();
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = lineEnd(buf)) >= 0) {
      const line = buf.slice(0, end);
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (buf[end] === '\r' && end + 1 === buf.length) break;
      buf = buf.slice(end + (buf[end] === '\r' && buf[end + 1] === '\n' ? 2 : 1));
      if (line === '') {
        if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id };
        event = '';
        data = [];
        id = undefined;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) hooks.onRetry?.(Number(value));
    }
  }
}

function lineEnd(buf: string): number {
  const lf = buf.indexOf('\n');
  const cr = buf.indexOf('\r');
  if (cr < 0) return lf;
  if (lf < 0) return cr;
  return Math.min(cr, lf);
}
