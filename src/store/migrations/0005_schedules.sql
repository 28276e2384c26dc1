-- Cron schedules, and one row per fired tick: the (schedule_id, tick) key is what makes each
-- tick fire exactly once however many schedulers run.
CREATE TABLE schedules (
  id             uuid PRIMARY KEY,
  name           text NOT NULL UNIQUE,
  cron           text NOT NULL,
  timezone       text NOT NULL DEFAULT 'UTC',
  command        text NOT NULL,
  handler        text NOT NULL,
  payload        jsonb,
  queue          text NOT NULL DEFAULT 'default',
  priority       integer NOT NULL DEFAULT 0,
  max_attempts   integer CHECK (max_attempts >= 1),
  timeout_ms     integer CHECK (timeout_ms > 0),
  misfire        text NOT NULL DEFAULT 'run_once' CHECK (misfire IN ('skip', 'run_once', 'run_all')),
  catch_up_limit integer NOT NULL DEFAULT 100 CHECK (catch_up_limit >= 1),
  paused         boolean NOT NULL DEFAULT false,
  next_run_at    timestamptz(3) NOT NULL,
  last_run_at    timestamptz(3),
  last_task_id   uuid,
  created_at     timestamptz(3) NOT NULL DEFAULT now(),
  updated_at     timestamptz(3) NOT NULL DEFAULT now()
);

-- The ticker's question: which active schedules are due?
CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE NOT paused;

CREATE TABLE schedule_runs (
  schedule_id uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
  tick        timestamptz(3) NOT NULL,
  task_id     uuid NOT NULL,
  fired_at    timestamptz(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (schedule_id, tick)
);
