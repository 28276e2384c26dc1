-- Worker routing: a task may require labels ({"region": "eu", "gpu": "true"}), and only a
-- worker whose labels contain them all is handed it. Checked in the claim as
-- `requires <@ <the claiming workers' labels>`; no index, as for the handler filter.
ALTER TABLE tasks ADD COLUMN requires jsonb;
