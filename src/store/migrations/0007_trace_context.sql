-- The W3C traceparent of the span that submitted a task, so that dispatch, run and
-- completion (in other processes, later) join the same trace.
ALTER TABLE tasks ADD COLUMN trace_context text;
