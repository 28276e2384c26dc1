/** An answer of the REST API: its status, and its body parsed (null when empty). */
export interface RestAnswer {
  status: number;
  body: any;
}

/** One JSON request to the REST API at `base`, as a client sends it. */
export async function restCall(
  base: string,
  method: string,
  path: string,
  body?: object,
): Promise<RestAnswer> {
  const res = await fetch(base + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null };
}

/** A wall clock that a test moves by hand, for a CronTicker's `now`. */
export function fakeClock(start: Date): { now: () => Date; advance: (ms: number) => number } {
  let now = start.getTime();
  return { now: () => new Date(now), advance: (ms: number) => (now += ms) };
}
