-- Workflows (docs/workflows.md): tasks that wait for other tasks.
--
-- Two waiting states join `pending`, and neither is ever claimed (the claim index holds only
-- pending rows):
--   blocked  a workflow node whose parents have not all succeeded;
--   waiting  a task that handed its work to children (ctx.waitFor) and waits for them to end.
-- `waiting_on` counts what remains (parents not yet succeeded, or children not yet ended).
-- The statement that ends the last of them moves the task to pending in the same
-- transaction, through the trigger below: fan-in decrements a count and never rescans.
ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
  CHECK (status IN ('blocked', 'waiting', 'pending', 'running', 'succeeded', 'dead', 'cancelled'));
ALTER TABLE task_attempts DROP CONSTRAINT task_attempts_outcome_check;
ALTER TABLE task_attempts ADD CONSTRAINT task_attempts_outcome_check
  CHECK (outcome IN ('succeeded', 'failed', 'timeout', 'lease_expired', 'cancelled', 'waiting'));

CREATE TABLE workflows (
  id                 uuid PRIMARY KEY,
  name               text,
  idempotency_key    text,
  -- The task that runs when a node fails (it stays blocked until then), or null.
  on_failure_task_id uuid,
  created_at         timestamptz(3) NOT NULL DEFAULT now(),
  -- Set when the whole workflow is cancelled: its on_failure task then does not run.
  cancelled_at       timestamptz(3)
);
CREATE UNIQUE INDEX workflows_idempotency_key_idx ON workflows (idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX workflows_created_idx ON workflows (created_at DESC, id DESC);

ALTER TABLE tasks
  ADD COLUMN workflow_id    uuid,
  ADD COLUMN workflow_key   text,
  -- The task that spawned this one and waits for it to end.
  ADD COLUMN parent_id      uuid,
  ADD COLUMN waiting_on     integer NOT NULL DEFAULT 0 CHECK (waiting_on >= 0),
  -- True for a workflow node that other nodes depend on: only those rows fire the trigger's
  -- work on success, so a plain task pays nothing for workflows.
  ADD COLUMN has_dependents boolean NOT NULL DEFAULT false,
  -- What the task's handler gets besides its payload, set when it is released:
  -- {"parents": {key: result}} (a workflow node), {"children": [outcome]} (a task that waited
  -- for its children), {"failed": {key, task_id, status, error}} (an on_failure task).
  ADD COLUMN inputs         jsonb;

-- A workflow's nodes, for its graph; and its unfinished ones, for "is anything left".
CREATE INDEX tasks_workflow_idx ON tasks (workflow_id, workflow_key) WHERE workflow_id IS NOT NULL;
CREATE INDEX tasks_workflow_open_idx ON tasks (workflow_id)
  WHERE workflow_id IS NOT NULL AND status IN ('blocked', 'waiting', 'pending', 'running');
-- A waiting parent's children.
CREATE INDEX tasks_parent_idx ON tasks (parent_id) WHERE parent_id IS NOT NULL;

-- The edges of a workflow's graph: child waits for parent. No foreign keys: rows are written
-- only with their tasks, and retention deletes them with their tasks.
CREATE TABLE task_edges (
  parent_id uuid NOT NULL,
  child_id  uuid NOT NULL,
  PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX task_edges_child_idx ON task_edges (child_id);

-- Runs after a workflow task (or a spawned child) ends, in the transaction that ended it:
--  * a node that succeeded releases the children for which it was the last parent, with their
--    parents' results as inputs;
--  * a node that ended dead or cancelled cancels every blocked descendant (none can ever run)
--    and, unless the whole workflow was cancelled, releases the workflow's on_failure task
--    (a spawned child's failure is left to its parent, which gets every child's outcome);
--  * the last node to succeed cancels the on_failure task, which is then not needed;
--  * a spawned child that ended counts down its waiting parent, and the last one releases it
--    with every child's outcome as inputs.
-- Released tasks wake the coordinators and announce themselves like any other change, in the
-- payload formats that store/channels.ts (wake) and store/events.ts (event lines) define and
-- parse; the workflow tests prove a released task is claimed and seen at once.
CREATE FUNCTION task_ended() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
  events_on boolean := EXISTS (SELECT 1 FROM event_demand WHERE until > now());
  changed integer;
BEGIN
  -- First, so that the failure that happened (not the cancellations it causes below) is the
  -- one the on_failure task is told about.
  IF NEW.workflow_id IS NOT NULL THEN
    -- A spawned child's failure is its waiting parent's to judge (it gets every outcome).
    IF NEW.status IN ('dead', 'cancelled') AND NEW.parent_id IS NULL THEN
      WITH released AS (
        UPDATE tasks f SET status = 'pending', waiting_on = 0, scheduled_at = now(), updated_at = now(),
          inputs = jsonb_build_object('failed', jsonb_build_object('key', NEW.workflow_key,
            'task_id', NEW.id, 'status', NEW.status, 'error', NEW.error))
        FROM workflows w
        WHERE w.id = NEW.workflow_id AND w.cancelled_at IS NULL AND f.id = w.on_failure_task_id
          AND f.id <> NEW.id AND f.status = 'blocked'
        RETURNING f.id, f.status, f.attempt, f.updated_at, f.queue, f.scheduled_at
      )
      SELECT count(*) INTO changed FROM (
        SELECT pg_notify(current_schema() || '_wake',
                 (extract(epoch FROM scheduled_at) * 1000)::bigint || ':' || queue)
        FROM released
        UNION ALL
        SELECT pg_notify(current_schema() || '_events',
                 id::text || ',' || status || ',' || attempt || ',' ||
                 (extract(epoch FROM updated_at) * 1000)::bigint || ',' || queue)
        FROM released WHERE events_on
      ) n;
    ELSIF NEW.status = 'succeeded' THEN
      -- The last node to succeed: the on_failure task will never be needed.
      UPDATE tasks f SET status = 'cancelled', cancelled_at = now(), updated_at = now(),
        error = 'not needed: every task of the workflow succeeded'
      FROM workflows w
      WHERE w.id = NEW.workflow_id AND f.id = w.on_failure_task_id AND f.status = 'blocked'
        AND NOT EXISTS (SELECT 1 FROM tasks o WHERE o.workflow_id = NEW.workflow_id
                          AND o.status IN ('blocked', 'waiting', 'pending', 'running')
                          AND o.id <> w.on_failure_task_id);
    END IF;
  END IF;

  IF NEW.has_dependents AND NEW.status = 'succeeded' THEN
    WITH released AS (
      UPDATE tasks c SET
        waiting_on = c.waiting_on - 1,
        status = CASE WHEN c.waiting_on = 1 THEN 'pending' ELSE c.status END,
        scheduled_at = CASE WHEN c.waiting_on = 1 THEN greatest(c.scheduled_at, now()) ELSE c.scheduled_at END,
        inputs = CASE WHEN c.waiting_on = 1 THEN jsonb_build_object('parents',
            (SELECT jsonb_object_agg(p.workflow_key, p.result)
             FROM task_edges e JOIN tasks p ON p.id = e.parent_id WHERE e.child_id = c.id))
          ELSE c.inputs END,
        updated_at = now()
      FROM task_edges e
      WHERE e.parent_id = NEW.id AND c.id = e.child_id AND c.status = 'blocked'
      RETURNING c.id, c.status, c.attempt, c.updated_at, c.queue, c.scheduled_at
    )
    SELECT count(*) INTO changed FROM (
      SELECT pg_notify(current_schema() || '_wake',
               (extract(epoch FROM scheduled_at) * 1000)::bigint || ':' || queue)
      FROM released WHERE status = 'pending'
      UNION ALL
      SELECT pg_notify(current_schema() || '_events',
               id::text || ',' || status || ',' || attempt || ',' ||
               (extract(epoch FROM updated_at) * 1000)::bigint || ',' || queue)
      FROM released WHERE events_on AND status = 'pending'
    ) n;
  ELSIF NEW.has_dependents AND NEW.status IN ('dead', 'cancelled') THEN
    WITH RECURSIVE below(id) AS (
      SELECT child_id FROM task_edges WHERE parent_id = NEW.id
      UNION
      SELECT e.child_id FROM task_edges e JOIN below ON e.parent_id = below.id
    ), cancelled AS (
      UPDATE tasks c SET status = 'cancelled', cancelled_at = now(), updated_at = now(),
        error = format('not run: %s ended %s', coalesce(NEW.workflow_key, NEW.id::text), NEW.status)
      FROM below WHERE c.id = below.id AND c.status = 'blocked'
      RETURNING c.id, c.status, c.attempt, c.updated_at, c.queue
    )
    SELECT count(*) INTO changed FROM (
      SELECT pg_notify(current_schema() || '_events',
               id::text || ',' || status || ',' || attempt || ',' ||
               (extract(epoch FROM updated_at) * 1000)::bigint || ',' || queue)
      FROM cancelled WHERE events_on
    ) n;
  END IF;

  IF NEW.parent_id IS NOT NULL THEN
    WITH released AS (
      UPDATE tasks p SET
        waiting_on = p.waiting_on - 1,
        status = CASE WHEN p.waiting_on = 1 AND p.status = 'waiting' THEN 'pending' ELSE p.status END,
        scheduled_at = CASE WHEN p.waiting_on = 1 AND p.status = 'waiting' THEN now() ELSE p.scheduled_at END,
        inputs = CASE WHEN p.waiting_on = 1 AND p.status = 'waiting' THEN jsonb_build_object('children',
            (SELECT jsonb_agg(jsonb_build_object('task_id', c.id, 'key', c.workflow_key,
                     'status', c.status, 'result', c.result, 'error', c.error) ORDER BY c.id)
             FROM tasks c WHERE c.parent_id = p.id))
          ELSE p.inputs END,
        updated_at = now()
      WHERE p.id = NEW.parent_id AND p.waiting_on > 0
      RETURNING p.id, p.status, p.attempt, p.updated_at, p.queue, p.scheduled_at
    )
    SELECT count(*) INTO changed FROM (
      SELECT pg_notify(current_schema() || '_wake',
               (extract(epoch FROM scheduled_at) * 1000)::bigint || ':' || queue)
      FROM released WHERE status = 'pending'
      UNION ALL
      SELECT pg_notify(current_schema() || '_events',
               id::text || ',' || status || ',' || attempt || ',' ||
               (extract(epoch FROM updated_at) * 1000)::bigint || ',' || queue)
      FROM released WHERE events_on AND status = 'pending'
    ) n;
  END IF;
  RETURN NULL;
END;
$$;

-- Only rows that take part in a workflow run the function; for every other row the WHEN is
-- a few column comparisons, evaluated without calling it.
CREATE TRIGGER tasks_ended AFTER UPDATE OF status ON tasks
  FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status
        AND NEW.status IN ('succeeded', 'dead', 'cancelled')
        AND (NEW.has_dependents OR NEW.workflow_id IS NOT NULL OR NEW.parent_id IS NOT NULL))
  EXECUTE FUNCTION task_ended();
