-- Leader election for maintenance work, per-queue settings, and the epoch that reaped an attempt.

-- One row per elected role. Whoever holds an unexpired row leads; a takeover bumps the epoch,
-- and every maintenance write checks (holder, epoch) under a share lock on this row, so a
-- paused ex-leader's late write matches nothing.
CREATE TABLE leader (
  role        text PRIMARY KEY,
  holder      text NOT NULL,
  epoch       bigint NOT NULL,
  acquired_at timestamptz(3) NOT NULL,
  expires_at  timestamptz(3) NOT NULL
);

-- Per-queue settings. A queue need not have a row: missing means defaults, not paused.
CREATE TABLE queues (
  name              text PRIMARY KEY,
  paused            boolean NOT NULL DEFAULT false,
  max_attempts      integer CHECK (max_attempts >= 1),
  backoff_base_ms   integer CHECK (backoff_base_ms >= 0),
  backoff_max_ms    integer CHECK (backoff_max_ms >= 0),
  created_at        timestamptz(3) NOT NULL DEFAULT now(),
  updated_at        timestamptz(3) NOT NULL DEFAULT now()
);

-- Which leader term reaped an attempt (lease_expired rows only): an audit of epoch fencing.
ALTER TABLE task_attempts ADD COLUMN leader_epoch bigint;
