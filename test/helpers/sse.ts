/** One parsed Server-Sent Event. */
export interface SseEvent {
  event: string;
  id: string | undefined;
  data: any;
}

/**
 * Reads an SSE stream with fetch, as a browser's EventSource would, collecting events until
 * `until` says stop (or the timeout passes). Returns the events and the response status.
 */
export async function readSse(
  url: string,
  until: (events: SseEvent[]) => boolean,
  opts: {
    headers?: Record<string, string>;
    timeoutMs?: number;
    onOpen?: () => void | Promise<void>;
  } = {},
): Promise<{ status: number; contentType: string | null; events: SseEvent[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? 20_000);
  const events: SseEvent[] = [];
  const res = await fetch(url, { headers: opts.headers ?? {}, signal: controller.signal });
  try {
    if (!res.ok || !res.body)
      return { status: res.status, contentType: res.headers.get('content-type'), events };
    await opts.onOpen?.();
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let sep: number;
      while ((sep = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        let event = 'message';
        let id: string | undefined;
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('id: ')) id = line.slice(4);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length === 0) continue;
        events.push({ event, id, data: JSON.parse(data.join('\n')) });
        if (until(events))
          return { status: res.status, contentType: res.headers.get('content-type'), events };
      }
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { status: res.status, contentType: res.headers.get('content-type'), events };
}
