-- Task events (the events channel) are sent only while someone watches: a process with an
-- SSE stream or a WatchTask call open keeps `until` in the future, and the statements that
-- change tasks announce their rows only before it. Without watchers, inserts, claims and
-- completions skip building the lines and commit without the NOTIFY lock.
CREATE TABLE event_demand (
  id    integer PRIMARY KEY CHECK (id = 1),
  until timestamptz NOT NULL
);
INSERT INTO event_demand VALUES (1, '-infinity');
