-- Tasks, their attempt history and the worker registry.
-- Applied with search_path set to the target schema; names are unqualified on purpose.

CREATE TABLE tasks (
  id               uuid PRIMARY KEY,               -- uuid v7: time-ordered, so id order is creation order
  queue            text NOT NULL,
  command          text NOT NULL,
  handler          text NOT NULL,                  -- the first word of command
  payload          jsonb,
  priority         integer NOT NULL DEFAULT 0,
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'succeeded', 'dead', 'cancelled')),
  scheduled_at     timestamptz(3) NOT NULL,        -- run_at: due from this instant
  attempt          integer NOT NULL DEFAULT 0,     -- incremented by every claim; the fencing token
  max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  timeout_ms       integer CHECK (timeout_ms > 0),
  backoff_base_ms  integer NOT NULL DEFAULT 1000,
  backoff_max_ms   integer NOT NULL DEFAULT 300000,
  worker_id        text,
  lease_expires_at timestamptz(3),
  idempotency_key  text,
  result           jsonb,
  error            text,
  executor         text,                           -- 'handler' or 'shell'
  picked_at        timestamptz(3),
  started_at       timestamptz(3),
  completed_at     timestamptz(3),
  failed_at        timestamptz(3),
  cancelled_at     timestamptz(3),
  created_at       timestamptz(3) NOT NULL DEFAULT now(),
  updated_at       timestamptz(3) NOT NULL DEFAULT now()
);

-- The claim path. Partial, so it holds only the pending set and stays small however much
-- history piles up. Its order is the claim order: priority first, then due time, then id
-- as the tie-break, so a claim is an ordered index scan that stops after LIMIT rows.
CREATE INDEX tasks_claim_idx ON tasks (queue, priority DESC, scheduled_at, id)
  WHERE status = 'pending';

-- The coordinator's wake-up timer asks for the earliest future due time across queues;
-- the claim index cannot answer that without visiting every (queue, priority) prefix.
CREATE INDEX tasks_next_due_idx ON tasks (scheduled_at) WHERE status = 'pending';

-- The reaper path: running tasks by lease expiry. The running set is bounded by the
-- total worker concurrency, so this index is tiny.
CREATE INDEX tasks_lease_idx ON tasks (lease_expires_at) WHERE status = 'running';

-- At most one task per idempotency key.
CREATE UNIQUE INDEX tasks_idempotency_key_idx ON tasks (idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- Listing by status (newest first) without scanning finished history.
CREATE INDEX tasks_status_id_idx ON tasks (status, id);

CREATE TABLE task_attempts (
  task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  attempt     integer NOT NULL,
  worker_id   text,
  picked_at   timestamptz(3),
  started_at  timestamptz(3),
  finished_at timestamptz(3) NOT NULL,
  outcome     text NOT NULL
              CHECK (outcome IN ('succeeded', 'failed', 'timeout', 'lease_expired', 'cancelled')),
  error       text,
  PRIMARY KEY (task_id, attempt)
);

CREATE TABLE workers (
  id             text PRIMARY KEY,
  name           text NOT NULL,
  queues         text[] NOT NULL,
  handlers       text[] NOT NULL,
  accepts_any    boolean NOT NULL DEFAULT false, -- also runs any command as a shell line
  concurrency    integer NOT NULL,
  labels         jsonb NOT NULL DEFAULT '{}',
  version        text,
  coordinator_id text,
  first_seen_at  timestamptz(3) NOT NULL DEFAULT now(),
  last_seen_at   timestamptz(3) NOT NULL DEFAULT now(),
  disconnected_at timestamptz(3)
);
