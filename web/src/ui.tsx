/** Small building blocks every page uses: badges, empty and error states, action buttons. */
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { ApiError, errorMessage } from './api';
import { relative, timeTitle, timestamp } from './format';
import type { CursorPages } from './hooks';

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
      <ActionError message={error} />
    </span>
  );
}

/** An action's error, beside its button. */
export function ActionError(props: { message: string | null | undefined }): ReactNode {
  return props.message ? (
    <span className="action-error" role="alert">
      {props.message}
    </span>
  ) : null;
}

/** A form field: its label, the control, and under it the error (the API's, or a check's) or a hint. */
export function FormField(props: {
  label: ReactNode;
  error?: string | null | undefined;
  hint?: string | undefined;
  children: ReactNode;
}): ReactNode {
  return (
    <label className={props.error ? 'invalid' : ''}>
      {props.label}
      {props.children}
      {props.error ? (
        <span className="field-error" role="alert">
          {props.error}
        </span>
      ) : props.hint ? (
        <span className="hint">{props.hint}</span>
      ) : null}
    </label>
  );
}

/** The form field an API error names (the first part of its `field`), when the form has it. */
export function errorField<F extends string>(err: unknown, fields: readonly F[]): F | null {
  const field = err instanceof ApiError ? err.field?.split('.')[0] : undefined;
  return field && (fields as readonly string[]).includes(field) ? (field as F) : null;
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

/**
 * A time, always with its zone: absolute ("2031-03-01 14:03:05 UTC+1"), or relative to `now`
 * ("3 s ago"); either way the tooltip gives it in the browser's zone and in UTC.
 */
export function Time(props: {
  at: string | null | undefined;
  now?: number;
  ms?: boolean;
}): ReactNode {
  if (!props.at) return '—';
  return (
    <time dateTime={props.at} title={timeTitle(props.at)}>
      {props.now === undefined ? timestamp(props.at, props.ms) : relative(props.at, props.now)}
    </time>
  );
}

/**
 * A modal dialog (the browser's own <dialog>: focus stays inside, Escape closes it). Shown
 * while mounted.
 */
export function Dialog(props: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  className?: string;
}): ReactNode {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className={`dialog ${props.className ?? ''}`}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
    >
      <header>
        <h2 id={titleId}>{props.title}</h2>
        <button
          type="button"
          className="btn plain small"
          aria-label="Close"
          onClick={props.onClose}
        >
          ✕
        </button>
      </header>
      {props.children}
    </dialog>
  );
}

/**
 * Asks before an action that changes many things: says what will happen, runs it on
 * confirmation, then shows what it did (`outcome`) or the API's error, until closed.
 */
export function ConfirmDialog<R>(props: {
  title: string;
  /** What will happen, with the count. */
  message: ReactNode;
  confirmLabel: string;
  kind?: 'primary' | 'danger';
  run: (progress: (text: string) => void) => Promise<R>;
  outcome: (result: R) => ReactNode;
  onClose: (changed: boolean) => void;
}): ReactNode {
  const [state, setState] = useState<
    | { step: 'ask' }
    | { step: 'busy'; text: string }
    | { step: 'done'; result: R }
    | { step: 'failed'; error: string }
  >({ step: 'ask' });
  const confirm = (): void => {
    setState({ step: 'busy', text: 'Working…' });
    props
      .run((text) => setState({ step: 'busy', text }))
      .then(
        (result) => setState({ step: 'done', result }),
        (err: unknown) => setState({ step: 'failed', error: errorMessage(err) }),
      );
  };
  const close = (): void => props.onClose(state.step === 'done');
  return (
    <Dialog title={props.title} onClose={close} className="confirm">
      {state.step === 'done' ? (
        <div className="outcome" role="status">
          {props.outcome(state.result)}
        </div>
      ) : (
        <p className="message">{props.message}</p>
      )}
      {state.step === 'failed' ? (
        <p className="action-error" role="alert">
          {state.error}
        </p>
      ) : null}
      <div className="dialog-actions">
        {state.step === 'done' ? (
          <button type="button" className="btn primary" onClick={close}>
            Close
          </button>
        ) : (
          <>
            <button
              type="button"
              className="btn plain"
              onClick={close}
              disabled={state.step === 'busy'}
            >
              {state.step === 'failed' ? 'Close' : 'Go back'}
            </button>
            <button
              type="button"
              className={`btn ${props.kind ?? 'primary'}`}
              onClick={confirm}
              disabled={state.step === 'busy'}
            >
              {state.step === 'busy' ? state.text : props.confirmLabel}
            </button>
          </>
        )}
      </div>
    </Dialog>
  );
}

/** **← Newer** and **Older →** under a list paged by cursor; nothing when it has one page. */
export function Pager(props: {
  pages: CursorPages;
  /** The API's `next_cursor`: null on the last page. */
  next: string | null;
  /** How many pages there are, when known ("3", "200+"). */
  of?: string | null;
}): ReactNode {
  const { pages, next } = props;
  if (pages.page === 1 && !next) return null;
  return (
    <nav className="pager">
      <button type="button" className="btn plain" disabled={pages.page === 1} onClick={pages.newer}>
        ← Newer
      </button>
      <span>
        Page {pages.page}
        {props.of ? ` of ${props.of}` : ''}
      </span>
      <button
        type="button"
        className="btn plain"
        disabled={!next}
        onClick={() => next && pages.older(next)}
      >
        Older →
      </button>
    </nav>
  );
}

/** A dialog form's buttons: submit (disabled while busy), Discard, and the form's error. */
export function FormActions(props: {
  label: string;
  busyLabel: string;
  busy: boolean;
  disabled?: boolean;
  error: string | null | undefined;
  onDiscard: () => void;
}): ReactNode {
  return (
    <div className="form-actions">
      <button type="submit" className="btn primary" disabled={props.busy || props.disabled}>
        {props.busy ? props.busyLabel : props.label}
      </button>
      <button type="button" className="btn plain" onClick={props.onDiscard}>
        Discard
      </button>
      <ActionError message={props.error} />
    </div>
  );
}
