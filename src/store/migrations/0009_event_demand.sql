-- Task events (the events channel) are sent only while someone watches: a process with an
-- SSE stream or a WatchTask call open keeps `until` in the future, and the batch statements
-- that change tasks (insert, claim, completion, progress, reap, release) announce their rows
-- only before it. Without watchers they skip building the lines and commit without the
-- NOTIFY lock. `switched_on_at` is when events last went from off to on: watchers that
-- arrive soon after re-read, since statements that began before it did not announce.
CREATE TABLE event_demand (
  id             integer PRIMARY KEY CHECK (id = 1),
  until          timestamptz NOT NULL,
  switched_on_at timestamptz NOT NULL
);
INSERT INTO event_demand VALUES (1, '-infinity', '-infinity');
