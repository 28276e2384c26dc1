-- Concurrency limits: per queue (across all workers) and per concurrency key within a queue.
ALTER TABLE queues ADD COLUMN concurrency_limit integer CHECK (concurrency_limit >= 1);
ALTER TABLE queues ADD COLUMN key_concurrency_limit integer CHECK (key_concurrency_limit >= 1);
ALTER TABLE tasks ADD COLUMN concurrency_key text;
