-- A worker id belongs to one worker process and to the token it connected with. The first
-- hello binds both; a later hello with the same id must present the same instance key (a
-- random secret the process made at start, kept here only as a hash) and the same token.
-- So no other worker, whatever its credentials, can take over an id and with it the tasks
-- fenced to that id.
ALTER TABLE workers
  ADD COLUMN token_id uuid,
  ADD COLUMN instance_key_hash text;
