-- A schedule's runs include the ones an operator triggered by hand, so its page can say when
-- it last ran and how. A manual run's tick is the moment it was triggered.
ALTER TABLE schedule_runs ADD COLUMN manual boolean NOT NULL DEFAULT false;
