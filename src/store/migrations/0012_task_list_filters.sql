-- Indexes for the task list's filters (GET /v1/tasks?queue=&command=&worker=) and for bulk
-- retry of a queue's dead tasks. The list is newest first (ORDER BY id DESC), so each index
-- ends with id: a filtered page is an ordered index scan that stops after LIMIT rows, and
-- the capped total count reads at most 10,001 index entries.
--
-- Partial on `status <> 'running'`, on purpose. Claims and completions change `status`,
-- which other indexes hold, so those updates are never HOT and every full index on tasks
-- gets an entry for every row version: three per task (pending, running, finished). A
-- claim+complete micro-benchmark (100k tasks, three queues, batches of 200) lost about 28%
-- of its throughput to three full indexes (queue, id), (handler, id), (worker_id, id), and
-- about 10% to these partial ones, which skip the running version. The running set is
-- small (bounded by the workers' slots) and has its own indexes (tasks_lease_idx,
-- tasks_status_id_idx), so the list reads running tasks from those (store/read.ts splits
-- the query in two branches for that).

CREATE INDEX tasks_queue_id_idx ON tasks (queue, id) WHERE status <> 'running';

-- `command` with one word matches the handler; with spaces the whole command, which is
-- served by this index too (the handler is the command's first word): a btree on the
-- command itself could not hold commands near their 8 KiB limit.
CREATE INDEX tasks_handler_id_idx ON tasks (handler, id) WHERE status <> 'running';

-- A worker's recent tasks: those whose latest attempt ran on it. New tasks have no worker,
-- so they are left out too; only finished attempts (and retries waiting) get an entry.
CREATE INDEX tasks_worker_id_idx ON tasks (worker_id, id)
  WHERE worker_id IS NOT NULL AND status <> 'running';

-- Bulk retry of a queue's dead tasks, and the dead filter of one queue, without reading the
-- dead tasks of every other queue (tasks_status_id_idx) or the queue's whole history. Only
-- dead versions get an entry, so it costs the hot path nothing.
CREATE INDEX tasks_dead_queue_idx ON tasks (queue, id) WHERE status = 'dead';
