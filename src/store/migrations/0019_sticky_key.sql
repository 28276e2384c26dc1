-- Stickiness: tasks with the same sticky_key (in one queue) prefer the worker that took the
-- last one, while it is connected and has a free slot (docs/architecture.md, "Stickiness").
-- '' means none, as for rate_key and group_key. The claim indexes are unchanged: a sticky key
-- changes which worker is handed a task, never which tasks are claimed or in what order.
ALTER TABLE tasks ADD COLUMN sticky_key text NOT NULL DEFAULT '';

-- Whether a queue has sticky tasks waiting: one probe, by the common claim path, which then
-- leaves the queue to the serialised one (it pairs tasks with their holders' slots). Empty,
-- and free to keep, while no task has a sticky key.
CREATE INDEX tasks_sticky_pending_idx ON tasks (queue) WHERE status = 'pending' AND sticky_key <> '';

-- Who took a key's last task (since when): written by the claim that hands it to another
-- worker, deleted when that worker's stream ends, and pruned by retention when the worker has
-- left without a word (its coordinator stopped too).
CREATE TABLE sticky_holders (
  queue text NOT NULL,
  sticky_key text NOT NULL,
  worker_id text NOT NULL,
  since timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, sticky_key)
);
CREATE INDEX sticky_holders_worker_idx ON sticky_holders (worker_id);
