/** Small building blocks every page uses: badges, empty and error states, action buttons. */
import { useState, type ReactNode } from 'react';
import { ApiError, errorMessage } from './api';

export function StatusBadge(props: { status: string; title?: string }): ReactNode {
  return (
    <span className={`badge status-${props.status}`} title={props.title}>
      {props.status}
    </span>
  );
}

export function PageHeader(props: { title: string; children?: ReactNode }): ReactNode {
  return (
    <header className="page-header">
      <h1>{props.title}</h1>
      <div className="page-actions">{props.children}</div>
    </header>
  );
}

export function Card(props: {
  title: string;
  children: ReactNode;
  className?: string;
  aside?: ReactNode;
}): ReactNode {
  return (
    <section className={`card ${props.className ?? ''}`}>
      <header>
        <h2>{props.title}</h2>
        {props.aside ? <span className="aside">{props.aside}</span> : null}
      </header>
      {props.children}
    </section>
  );
}

/** Shown where a list has nothing in it, with what would fill it. */
export function Empty(props: { title: string; children?: ReactNode }): ReactNode {
  return (
    <div className="empty">
      <strong>{props.title}</strong>
      {props.children ? <p>{props.children}</p> : null}
    </div>
  );
}

/** An error from a load or an action, with the API's message. */
export function ErrorNote(props: { error: unknown; what?: string }): ReactNode {
  if (!props.error) return null;
  const e = props.error;
  // Unreachable and unavailable are shown once, in the page's banner.
  if (e instanceof ApiError && (e.status === 0 || e.status === 503 || e.status === 401))
    return null;
  return (
    <div className="error-note" role="alert">
      {props.what ? `${props.what}: ` : ''}
      {errorMessage(e)}
    </div>
  );
}

export function Loading(): ReactNode {
  return <div className="loading">Loading…</div>;
}

/**
 * A button that runs an API action, is disabled while it runs, and shows the API's error
 * message beside itself when it fails.
 */
export function ActionButton(props: {
  label: string;
  busyLabel?: string;
  run: () => Promise<unknown>;
  kind?: 'primary' | 'danger' | 'plain';
  disabled?: boolean;
  title?: string;
}): ReactNode {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const click = (): void => {
    setBusy(true);
    setError(null);
    props.run().then(
      () => setBusy(false),
      (err: unknown) => {
        setBusy(false);
        setError(errorMessage(err));
      },
    );
  };
  return (
    <span className="action">
      <button
        type="button"
        className={`btn ${props.kind ?? 'plain'}`}
        disabled={busy || props.disabled}
        title={props.title}
        onClick={click}
      >
        {busy ? (props.busyLabel ?? `${props.label}…`) : props.label}
      </button>
      {error ? (
        <span className="action-error" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  );
}

/** A definition list row that hides itself when there is nothing to show. */
export function Field(props: { label: string; children: ReactNode }): ReactNode {
  return (
    <>
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </>
  );
}
