-- Live status: the latest progress a handler reported, and an index to replay changes since
-- a given time (SSE Last-Event-ID resumption).

ALTER TABLE tasks ADD COLUMN progress_percent real;
ALTER TABLE tasks ADD COLUMN progress_message text;

-- updated_at only grows, so inserts go to the right edge of this index; resuming a stream
-- reads the tail after the client's last event.
CREATE INDEX tasks_updated_at_idx ON tasks (updated_at);
