-- A schedule starts a task or a workflow at each tick: exactly one of `command` (a task, with
-- its handler and the task fields beside it) and `workflow` (the body of POST /v1/workflows,
-- checked by the API before it is stored) is set.
ALTER TABLE schedules
  ALTER COLUMN command DROP NOT NULL,
  ALTER COLUMN handler DROP NOT NULL,
  ADD COLUMN workflow jsonb,
  -- The workflow its latest run started (last_task_id is the task's, for a task schedule).
  ADD COLUMN last_workflow_id uuid,
  ADD CONSTRAINT schedules_task_or_workflow
    CHECK ((command IS NULL) <> (workflow IS NULL) AND (command IS NULL) = (handler IS NULL));

-- A run records what it started: a task or a workflow. The (schedule_id, tick) key, which makes
-- each tick fire once, is the same for both.
ALTER TABLE schedule_runs
  ALTER COLUMN task_id DROP NOT NULL,
  ADD COLUMN workflow_id uuid,
  ADD CONSTRAINT schedule_runs_task_or_workflow CHECK ((task_id IS NULL) <> (workflow_id IS NULL));
