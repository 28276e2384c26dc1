-- taskq.submit() takes the task fields of 0016 as options, as POST /v1/tasks does: rate_key
-- (counted against the queue's key_rate_limit) and group (the queue's fair share). Everything
-- else is as 0014 left it: same checks, same messages, same insert, same notifications.

CREATE OR REPLACE FUNCTION submit(command text, payload jsonb DEFAULT NULL, options jsonb DEFAULT '{}')
RETURNS uuid LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
  r jsonb;
  o jsonb := coalesce(options, '{}'::jsonb);
  k text;
  cmd text := btrim(coalesce(command, ''));
  v_handler text;
  v_queue text;
  v_priority integer;
  v_run_at timestamptz;
  v_max_attempts integer;
  v_timeout integer;
  v_backoff integer;
  v_backoff_max integer;
  v_key text;
  v_ckey text;
  v_rkey text;
  v_group text;
  v_id uuid;
  t record;
BEGIN
  SELECT rules INTO r FROM task_rules WHERE id = 1;
  IF r IS NULL THEN
    RAISE EXCEPTION 'taskq.submit: the schema has no rules yet; run taskq migrate'
      USING ERRCODE = '55000';
  END IF;
  IF jsonb_typeof(o) <> 'object' THEN
    RAISE EXCEPTION 'taskq.submit: %', 'options must be a JSON object' USING ERRCODE = '22023';
  END IF;
  FOR k IN SELECT jsonb_object_keys(o) LOOP
    IF k NOT IN ('queue', 'priority', 'run_at', 'max_attempts', 'timeout_ms', 'backoff_ms',
                 'backoff_max_ms', 'idempotency_key', 'concurrency_key', 'rate_key', 'group') THEN
      RAISE EXCEPTION 'taskq.submit: %', format('unknown option "%s"', k) USING ERRCODE = '22023';
    END IF;
  END LOOP;

  IF cmd = '' THEN
    RAISE EXCEPTION 'taskq.submit: %', 'command must not be blank' USING ERRCODE = '22023';
  END IF;
  IF length(command) > (r->>'commandLength')::int THEN
    RAISE EXCEPTION 'taskq.submit: %', format('command must be at most %s characters', r->>'commandLength')
      USING ERRCODE = '22023';
  END IF;
  v_handler := (regexp_match(cmd, '^\S+'))[1];
  IF payload IS NOT NULL AND octet_length(payload::text) > (r->>'payloadBytes')::int THEN
    RAISE EXCEPTION 'taskq.submit: %', format('payload must be at most %s bytes of JSON', r->>'payloadBytes')
      USING ERRCODE = '22023';
  END IF;

  v_queue := 'default';
  IF o ? 'queue' THEN
    IF jsonb_typeof(o->'queue') <> 'string' OR length(o->>'queue') < 1
       OR length(o->>'queue') > (r->>'queueLength')::int OR NOT (o->>'queue') ~ (r->>'queuePattern') THEN
      RAISE EXCEPTION 'taskq.submit: %', format('queue must be %s', r->>'queueRule') USING ERRCODE = '22023';
    END IF;
    v_queue := o->>'queue';
  END IF;

  v_priority := 0;
  IF o ? 'priority' THEN
    IF jsonb_typeof(o->'priority') <> 'number' OR (o->>'priority')::numeric <> trunc((o->>'priority')::numeric)
       OR abs((o->>'priority')::numeric) > (r->>'priority')::int THEN
      RAISE EXCEPTION 'taskq.submit: %', format('priority must be an integer from -%s to %s', r->>'priority', r->>'priority')
        USING ERRCODE = '22023';
    END IF;
    v_priority := (o->>'priority')::int;
  END IF;

  IF o ? 'run_at' THEN
    IF jsonb_typeof(o->'run_at') <> 'string'
       OR NOT (o->>'run_at') ~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$' THEN
      RAISE EXCEPTION 'taskq.submit: %', 'run_at must be an RFC 3339 timestamp such as 2023-04-01T15:04:05Z'
        USING ERRCODE = '22023';
    END IF;
    BEGIN
      v_run_at := (o->>'run_at')::timestamptz;
    EXCEPTION WHEN others THEN
      RAISE EXCEPTION 'taskq.submit: %', 'run_at is not a real date or time' USING ERRCODE = '22023';
    END;
    IF v_run_at < to_timestamp((r->>'timestampMin')::bigint / 1000.0)
       OR v_run_at >= to_timestamp((r->>'timestampMax')::bigint / 1000.0) THEN
      RAISE EXCEPTION 'taskq.submit: %', 'run_at must be between 1970 and 2200' USING ERRCODE = '22023';
    END IF;
  END IF;

  FOR k IN SELECT unnest(ARRAY['max_attempts', 'timeout_ms', 'backoff_ms', 'backoff_max_ms']) LOOP
    IF o ? k AND (jsonb_typeof(o->k) <> 'number' OR (o->>k)::numeric <> trunc((o->>k)::numeric)
       OR (o->>k)::numeric < CASE WHEN k IN ('max_attempts', 'timeout_ms') THEN 1 ELSE 0 END
       OR (o->>k)::numeric > CASE k WHEN 'max_attempts' THEN (r->>'maxAttempts')::numeric
                                    WHEN 'timeout_ms' THEN (r->>'timeoutMs')::numeric
                                    ELSE (r->>'backoffMs')::numeric END) THEN
      RAISE EXCEPTION 'taskq.submit: %', format('%s must be an integer from %s to %s', k,
        CASE WHEN k IN ('max_attempts', 'timeout_ms') THEN 1 ELSE 0 END,
        CASE k WHEN 'max_attempts' THEN r->>'maxAttempts' WHEN 'timeout_ms' THEN r->>'timeoutMs'
               ELSE r->>'backoffMs' END)
        USING ERRCODE = '22023';
    END IF;
  END LOOP;
  v_max_attempts := (o->>'max_attempts')::int;
  v_timeout := (o->>'timeout_ms')::int;
  v_backoff := (o->>'backoff_ms')::int;
  v_backoff_max := (o->>'backoff_max_ms')::int;
  IF v_backoff IS NOT NULL AND v_backoff_max IS NOT NULL AND v_backoff_max < v_backoff THEN
    RAISE EXCEPTION 'taskq.submit: %', format('backoff_max_ms must be at least backoff_ms (%s < %s)', v_backoff_max, v_backoff)
      USING ERRCODE = '22023';
  END IF;

  FOR k IN SELECT unnest(ARRAY['idempotency_key', 'concurrency_key', 'rate_key', 'group']) LOOP
    IF o ? k AND (jsonb_typeof(o->k) <> 'string' OR length(o->>k) < 1
       OR length(o->>k) > (r->>'idempotencyKeyLength')::int) THEN
      RAISE EXCEPTION 'taskq.submit: %', format('%s must be text of 1 to %s characters', k, r->>'idempotencyKeyLength')
        USING ERRCODE = '22023';
    END IF;
  END LOOP;
  v_key := o->>'idempotency_key';
  v_ckey := o->>'concurrency_key';
  v_rkey := coalesce(o->>'rate_key', '');
  v_group := coalesce(o->>'group', '');

  SELECT max_attempts, backoff_base_ms, backoff_max_ms INTO t FROM queues WHERE name = v_queue;
  INSERT INTO tasks (id, queue, command, handler, payload, priority, scheduled_at, max_attempts,
    timeout_ms, backoff_base_ms, backoff_max_ms, idempotency_key, concurrency_key, rate_key, group_key)
  VALUES (uuid_v7(), v_queue, command, v_handler, payload, v_priority, coalesce(v_run_at, now()),
    coalesce(v_max_attempts, t.max_attempts, (r->'defaults'->>'maxAttempts')::int), v_timeout,
    coalesce(v_backoff, t.backoff_base_ms, (r->'defaults'->>'backoffBaseMs')::int),
    coalesce(v_backoff_max, t.backoff_max_ms, (r->'defaults'->>'backoffMaxMs')::int),
    v_key, v_ckey, v_rkey, v_group)
  ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id, scheduled_at INTO v_id, v_run_at;
  IF v_id IS NULL THEN
    SELECT id INTO v_id FROM tasks WHERE idempotency_key = v_key;
    RETURN v_id;
  END IF;
  -- Delivered at commit, in the formats store/channels.ts and store/events.ts define.
  PERFORM pg_notify(current_schema() || '_wake',
    (extract(epoch FROM v_run_at) * 1000)::bigint || ':' || v_queue);
  IF EXISTS (SELECT 1 FROM event_demand WHERE until > now()) THEN
    PERFORM pg_notify(current_schema() || '_events',
      v_id::text || ',pending,0,' || (extract(epoch FROM now()) * 1000)::bigint || ',' || v_queue);
  END IF;
  RETURN v_id;
END;
$$;
