/** Opens a task by its id or idempotency key, from the tasks list's header. */
import { useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, api, errorMessage } from '../../api';
import { navigate } from '../../router';
import type { Task, TaskPage } from '../../types';
import { ActionError } from '../../ui';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The task submitted with an idempotency key. @throws ApiError 404 when there is none */
async function byKey(key: string): Promise<Task> {
  const q = new URLSearchParams({ idempotency_key: key, limit: '1', include_total: 'false' });
  const page = await api<TaskPage>('GET', `/v1/tasks?${q.toString()}`);
  const t = page.items[0];
  if (!t) throw new ApiError(404, 'not_found', `No task with idempotency key ${key}.`);
  return t;
}

/** Opens a task by its id, or by its idempotency key (which may look like an id too). */
export function IdSearch(): ReactNode {
  const [id, setId] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const want = id.trim();
    if (!want) return;
    setBusy(true);
    setError(null);
    // A task id opens that task; anything else is looked up as an idempotency key.
    const found = UUID.test(want)
      ? api<Task>('GET', `/v1/tasks/${encodeURIComponent(want)}`).catch((err: unknown) => {
          if (err instanceof ApiError && err.status === 404) return byKey(want);
          throw err;
        })
      : byKey(want);
    found.then(
      (t) => {
        setBusy(false);
        navigate(`tasks/${t.id}`);
      },
      (err: unknown) => {
        setBusy(false);
        setError(
          err instanceof ApiError && err.status === 404
            ? `No task with id or idempotency key ${want}.`
            : errorMessage(err),
        );
      },
    );
  };
  return (
    <form className="search" onSubmit={submit} role="search">
      <input
        type="search"
        aria-label="Task id or idempotency key"
        placeholder="Task id or idempotency key"
        value={id}
        onChange={(e) => setId(e.target.value)}
      />
      <button type="submit" className="btn plain" disabled={busy}>
        Open
      </button>
      <ActionError message={error} />
    </form>
  );
}
