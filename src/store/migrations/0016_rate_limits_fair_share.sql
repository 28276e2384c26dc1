-- Rate limits (N starts per period, per queue and per rate_key) and fair share across groups
-- (docs/architecture.md, "Rate limits and fair share").

-- A task's rate key and group. '' means none, rather than NULL, because the claim walks the
-- distinct (group_key, rate_key) pairs with row comparisons, which NULLs would break.
ALTER TABLE tasks ADD COLUMN rate_key text NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN group_key text NOT NULL DEFAULT '';

-- The pending set is split between two claim indexes, and every pending task is in exactly
-- one of them, so plain tasks pay for no extra index (an index over all pending tasks with
-- the two keys in front cost bulk inserts about a third more). Plain tasks keep the ordered
-- scan of 0001; a task with a group or a rate key is found through its own (queue, group,
-- rate key) lane, so one group's backlog, or a rate-limited key's, is never scanned to reach
-- another lane's tasks.
DROP INDEX tasks_claim_idx;
CREATE INDEX tasks_claim_idx ON tasks (queue, priority DESC, scheduled_at, id)
  WHERE status = 'pending' AND group_key = '' AND rate_key = '';
CREATE INDEX tasks_lane_claim_idx ON tasks (queue, group_key, rate_key, priority DESC, scheduled_at, id)
  WHERE status = 'pending' AND (group_key <> '' OR rate_key <> '');

-- Queue settings: at most rate_limit_count starts per rate_limit_period_ms for the queue, and
-- key_rate_limit_count per key_rate_limit_period_ms for each rate key; weights of groups in
-- the round robin (absent: 1). The lane cursor is where the last claim's rotation stopped.
ALTER TABLE queues ADD COLUMN rate_limit_count integer CHECK (rate_limit_count >= 1);
ALTER TABLE queues ADD COLUMN rate_limit_period_ms integer CHECK (rate_limit_period_ms >= 1);
ALTER TABLE queues ADD COLUMN key_rate_limit_count integer CHECK (key_rate_limit_count >= 1);
ALTER TABLE queues ADD COLUMN key_rate_limit_period_ms integer CHECK (key_rate_limit_period_ms >= 1);
ALTER TABLE queues ADD CONSTRAINT queues_rate_limit_pair
  CHECK ((rate_limit_count IS NULL) = (rate_limit_period_ms IS NULL));
ALTER TABLE queues ADD CONSTRAINT queues_key_rate_limit_pair
  CHECK ((key_rate_limit_count IS NULL) = (key_rate_limit_period_ms IS NULL));
ALTER TABLE queues ADD COLUMN group_weights jsonb;
ALTER TABLE queues ADD COLUMN lane_cursor_group text;
ALTER TABLE queues ADD COLUMN lane_cursor_key text;

-- Every attempt claimed from a rate-limited queue, kept while it can still count: until its
-- start is known to be older than the period, or it ended without starting. The claim reads
-- each entry's start from the task (or, once the task moved on to a later attempt, from
-- task_attempts), counts an attempt not yet started as starting now, and deletes what can no
-- longer count. Only rate-limited queues write here.
CREATE TABLE rate_claims (
  queue    text NOT NULL,
  rate_key text NOT NULL,
  task_id  uuid NOT NULL,
  attempt  integer NOT NULL,
  PRIMARY KEY (task_id, attempt)
);
CREATE INDEX rate_claims_queue_idx ON rate_claims (queue, rate_key);
