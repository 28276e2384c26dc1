-- The attempts history no longer references tasks by foreign key. The check cost one
-- SELECT ... FOR KEY SHARE per finished attempt, about a third of each completion statement
-- (docs/performance.md). Attempts are only ever written by the statements that update their
-- task's row, and retention deletes a task's attempts in the statement that deletes the task.
ALTER TABLE task_attempts DROP CONSTRAINT task_attempts_task_id_fkey;
