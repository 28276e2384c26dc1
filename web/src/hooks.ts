/** Hooks shared by the pages: polling, a ticking clock, the connection state. */
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { getConnection, subscribeConnection, type Connection } from './api';
import { isLiveOpen, subscribeLive, subscribeLiveState, type LiveEvent } from './live';

export function useConnection(): Connection {
  return useSyncExternalStore(subscribeConnection, getConnection);
}

/** Whether the shared /v1/events stream is open; pages poll instead while it is not. */
export function useLiveOpen(): boolean {
  return useSyncExternalStore(subscribeLiveState, isLiveOpen);
}

/** Date.now(), re-rendered every `ms`, for relative times ("3 s ago"). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(t);
  }, [ms]);
  return now;
}

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  /** Loads again now (after an action, or on a live event). */
  reload: () => void;
}

/**
 * Loads `load()` now, again every `intervalMs` (0: never; it may change without a reload),
 * on `reload()`, and whenever the connection recovers or the token changes. Never two loads
 * at once: a reload asked for during a load runs right after it. The last good data stays
 * shown while an error is up.
 */
export function usePoll<T>(
  load: () => Promise<T>,
  intervalMs: number,
  deps: readonly unknown[],
): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const { generation } = useConnection();
  const kick = useRef<() => void>(() => undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  const every = useRef(intervalMs);
  every.current = intervalMs;
  const schedule = useRef<() => void>(() => undefined);

  useEffect(() => {
    let alive = true;
    let running = false;
    let again = false;
    let timer: number | null = null;
    setData(null);
    setLoading(true);
    const run = async (): Promise<void> => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      if (timer !== null) window.clearTimeout(timer);
      try {
        const d = await loadRef.current();
        if (alive) {
          setData(d);
          setError(null);
        }
      } catch (err) {
        if (alive) setError(err);
      } finally {
        running = false;
        if (alive) {
          setLoading(false);
          if (again) {
            again = false;
            void run();
          } else {
            schedule.current();
          }
        }
      }
    };
    kick.current = () => void run();
    schedule.current = () => {
      if (timer !== null) window.clearTimeout(timer);
      timer = every.current > 0 ? window.setTimeout(() => void run(), every.current) : null;
    };
    void run();
    return () => {
      alive = false;
      if (timer !== null) window.clearTimeout(timer);
    };
    // `deps` name what the load depends on; the load itself is read through a ref.
  }, [...deps, generation]);

  // A new interval takes effect from now, without a reload.
  useEffect(() => schedule.current(), [intervalMs]);

  const reload = useCallback(() => kick.current(), []);
  return { data, error, loading, reload };
}

/** Calls `fn` for each live event from /v1/events while the component is mounted. */
export function useLiveEvents(fn: (e: LiveEvent) => void): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => subscribeLive((e) => ref.current(e)), []);
}

/**
 * Returns a function that calls `fn` at most once per `ms`, trailing: many events in a burst
 * cause one reload.
 */
export function useDebounced(fn: () => void, ms: number): () => void {
  const ref = useRef(fn);
  ref.current = fn;
  const timer = useRef<number | null>(null);
  useEffect(
    () => () => {
      if (timer.current !== null) window.clearTimeout(timer.current);
    },
    [],
  );
  return useCallback(() => {
    if (timer.current !== null) return;
    timer.current = window.setTimeout(() => {
      timer.current = null;
      ref.current();
    }, ms);
  }, [ms]);
}

/** Where a list paged by cursor is: the cursor of the page shown, and how to move. */
export interface CursorPages {
  /** The cursor of the page shown; null on the first (newest) page. */
  cursor: string | null;
  /** 1 on the first page. */
  page: number;
  /** Goes to the page after this one: `next` is the API's `next_cursor`. */
  older: (next: string) => void;
  /** Goes back one page. */
  newer: () => void;
}

/** Cursor paging, back to the first page whenever `resetKey` (the filters) changes. */
export function useCursorPages(resetKey: string): CursorPages {
  // Cursors of the pages before the current one; [] on the first page.
  const [before, setBefore] = useState<string[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  useEffect(() => {
    setBefore([]);
    setCursor(null);
  }, [resetKey]);
  return {
    cursor,
    page: before.length + 1,
    older: (next) => {
      setBefore([...before, cursor ?? '']);
      setCursor(next);
    },
    newer: () => {
      setCursor(before.at(-1) || null);
      setBefore(before.slice(0, -1));
    },
  };
}
