/**
 * A small path router under /ui/ (the server answers index.html for any /ui/* path, so deep
 * links and reloads work). Query strings carry filters, so a view can be shared as a link.
 */
import { useSyncExternalStore, type MouseEvent, type ReactNode } from 'react';

export const BASE = '/ui';

const NAVIGATE = 'taskq:navigate';

function subscribe(fn: () => void): () => void {
  window.addEventListener('popstate', fn);
  window.addEventListener(NAVIGATE, fn);
  return () => {
    window.removeEventListener('popstate', fn);
    window.removeEventListener(NAVIGATE, fn);
  };
}

const snapshot = (): string => window.location.pathname + window.location.search;

/** The route: the path below /ui/ without slashes at its ends, and the query. */
export interface Route {
  path: string;
  segments: string[];
  query: URLSearchParams;
}

export function useRoute(): Route {
  const href = useSyncExternalStore(subscribe, snapshot);
  const url = new URL(href, window.location.origin);
  const rel = url.pathname.startsWith(BASE) ? url.pathname.slice(BASE.length) : url.pathname;
  const path = rel.replace(/^\/+|\/+$/g, '');
  return {
    path,
    segments: path ? path.split('/').map(decodeURIComponent) : [],
    query: url.searchParams,
  };
}

/** The full href of a dashboard path ("tasks?status=dead" → "/ui/tasks?status=dead"). */
export function href(to: string): string {
  return `${BASE}/${to.replace(/^\/+/, '')}`;
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const target = href(to);
  if (target === snapshot()) return;
  if (opts.replace) window.history.replaceState(null, '', target);
  else window.history.pushState(null, '', target);
  window.dispatchEvent(new Event(NAVIGATE));
}

/** An anchor that navigates without a reload (and still opens in a new tab on ctrl-click). */
export function Link(props: {
  to: string;
  className?: string;
  title?: string;
  children: ReactNode;
}): ReactNode {
  const onClick = (e: MouseEvent<HTMLAnchorElement>): void => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey)
      return;
    e.preventDefault();
    navigate(props.to);
  };
  return (
    <a href={href(props.to)} className={props.className} title={props.title} onClick={onClick}>
      {props.children}
    </a>
  );
}
