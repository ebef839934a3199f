-- Named queries of the PostgreSQL store (loaded by sailbridge.store.postgres.connection).
-- Each query starts at a "-- name: <name>" line; the comment lines after it say why.
-- Parameters are psycopg's %(name)s and always cast: psycopg sends str as "unknown".
-- A batch travels as ONE JSON document (msgspec encodes it in microseconds, where
-- psycopg's per-element array dumping costs ~100 µs a row) and comes apart on the
-- server with json_to_recordset / json_array_elements_text: a batch is one statement.
--
-- Lock order, the same in every transaction so that nodes never deadlock: job rows
-- (finish, replay) -> seen_messages rows -> lines rows (keys in code-point order: Python's
-- sorted(), or COLLATE "C" in SQL) -> the next job in a line (unblock) -> job_counts
-- rows (sorted names, always last: nothing is waited for after them).
--
-- Claims and heartbeats commit with synchronous_commit off: losing one in a database
-- crash only hands the job out again (at-least-once holds), and it saves a disk flush
-- on the hottest path. Enqueue and settling commit durably.

-- name: lock_migrations
-- Several nodes starting at once: one migrates, the others wait and find it done.
SELECT pg_advisory_xact_lock(%(lock)s::bigint);

-- name: create_schema_version
CREATE TABLE IF NOT EXISTS schema_version (
    version    integer          PRIMARY KEY,
    applied_at double precision NOT NULL
);

-- name: schema_version
SELECT coalesce(max(version), 0) FROM schema_version;

-- name: record_schema_version
INSERT INTO schema_version (version, applied_at)
VALUES (%(version)s::integer, extract(epoch FROM clock_timestamp())::float8);

-- ---------------------------------------------------------------- memory

-- name: memory_email
SELECT email FROM memory_email
WHERE account = %(account)s::text AND user_key = %(user_key)s::text;

-- name: memory_cart
SELECT items::text, posted_at FROM memory_cart
WHERE account = %(account)s::text AND user_id = %(user_id)s::text AND posted_at >= %(since)s::float8;

-- name: memory_merged
SELECT 1 FROM memory_merge
WHERE account = %(account)s::text AND anonymous_id = %(anonymous_id)s::text AND user_id = %(user_id)s::text;

-- name: memory_remember_email
INSERT INTO memory_email (account, user_key, email, updated_at)
VALUES (%(account)s::text, %(user_key)s::text, %(email)s::text, %(now)s::float8)
ON CONFLICT (account, user_key) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at;

-- name: memory_remember_cart
INSERT INTO memory_cart (account, user_id, items, posted_at)
VALUES (%(account)s::text, %(user_id)s::text, %(items)s::json, %(now)s::float8)
ON CONFLICT (account, user_id) DO UPDATE SET items = excluded.items, posted_at = excluded.posted_at;

-- name: memory_remember_merge
INSERT INTO memory_merge (account, anonymous_id, user_id, merged_at)
VALUES (%(account)s::text, %(anonymous_id)s::text, %(user_id)s::text, %(now)s::float8)
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------- enqueue

-- name: remember_messages
-- Records these message ids (distinct, sorted) and returns the ones that are new or
-- were last seen before the window: the others are duplicates. A node inserting the
-- same id at the same moment waits for the first to commit, then sees a duplicate.
INSERT INTO seen_messages AS s (write_key, message_id, seen_at)
SELECT w, m, %(now)s::float8
FROM ROWS FROM (json_to_recordset(%(messages)s::json) AS (w text, m text))
     WITH ORDINALITY AS u(w, m, n)
ORDER BY n
ON CONFLICT (write_key, message_id) DO UPDATE SET seen_at = excluded.seen_at
WHERE s.seen_at < %(seen_after)s::float8
RETURNING write_key, message_id;

-- name: forget_messages
-- Message ids that fell out of the window, a chunk at a time, never waiting for rows
-- an enqueue holds.
DELETE FROM seen_messages WHERE (write_key, message_id) IN (
    SELECT write_key, message_id FROM seen_messages
    WHERE seen_at < %(seen_after)s::float8
    LIMIT %(limit)s::integer FOR UPDATE SKIP LOCKED);

-- name: lock_lines
-- Locks the lines of these keys (distinct, sorted) until COMMIT, creating the rows of
-- new lines. "DO UPDATE ... WHERE false" locks an existing row without writing a new
-- version of it; a line being created by another transaction is waited for.
INSERT INTO lines AS l (key)
SELECT k FROM json_array_elements_text(%(keys)s::json) WITH ORDINALITY AS u(k, n) ORDER BY n
ON CONFLICT (key) DO UPDATE SET key = l.key WHERE false;

-- name: busy_lines
-- Which of these keys already have an unfinished job (read after lock_lines).
SELECT k FROM json_array_elements_text(%(keys)s::json) AS u(k)
WHERE EXISTS (SELECT 1 FROM job_keys WHERE key = u.k);

-- name: next_ids
-- Line positions for replay, taken while the lines are locked so that within a line
-- they follow commit order.
SELECT nextval('jobs_id_seq') FROM generate_series(1, %(n)s::integer);

-- name: enqueue_jobs
-- The batch (lines already locked) in one statement: ids from jobs_id_seq in batch
-- order, so line order is commit order; each job's blockers = its keys with an earlier
-- unfinished job, already queued or earlier in this batch; the jobs, their places in
-- the lines, and the counters. Returns the ids in batch order.
WITH input AS (
    SELECT nextval('jobs_id_seq') AS id, batch.*
    FROM (SELECT * FROM ROWS FROM (json_to_recordset(%(jobs)s::json) AS (
              write_key text, message_id text, event json, event_type text, user_key text,
              ordering_keys text[], received_at float8, account text))
              WITH ORDINALITY AS r(write_key, message_id, event, event_type, user_key,
                                   ordering_keys, received_at, account, n)
          ORDER BY n) AS batch
), places AS (
    SELECT input.id, k.key,
           row_number() OVER (PARTITION BY k.key ORDER BY input.id) > 1
           OR EXISTS (SELECT 1 FROM job_keys WHERE job_keys.key = k.key) AS behind
    FROM input, unnest(input.ordering_keys) AS k(key)
), blocking AS (
    SELECT id, count(*) FILTER (WHERE behind)::integer AS blockers FROM places GROUP BY id
), stored AS (
    INSERT INTO jobs (id, write_key, message_id, event, event_type, user_key, ordering_keys,
                      blockers, state, attempts, received_at, available_at, updated_at,
                      account)
    SELECT input.id, write_key, message_id, event, event_type, user_key, ordering_keys,
           coalesce(blocking.blockers, 0), 'pending', 0, received_at, %(now)s::float8,
           %(now)s::float8, account
    FROM input LEFT JOIN blocking ON blocking.id = input.id
), joined AS (
    INSERT INTO job_keys (key, pos, job_id) SELECT key, id, id FROM places
), counted AS (
    INSERT INTO job_counts AS c (name, shard, n)
    SELECT key, %(shard)s::integer, value::bigint
    FROM json_each_text(%(deltas)s::json) AS u(key, value)
    ORDER BY key
    ON CONFLICT (name, shard) DO UPDATE SET n = c.n + excluded.n
)
SELECT id FROM input ORDER BY n;

-- name: join_lines
INSERT INTO job_keys (key, pos, job_id)
SELECT key, pos, job_id FROM json_to_recordset(%(lines)s::json) AS u(key text, pos bigint,
                                                                    job_id bigint);

-- name: insert_rejections
INSERT INTO rejections (write_key, message_id, raw, reason, received_at)
SELECT write_key, message_id, raw, reason, received_at
FROM ROWS FROM (json_to_recordset(%(rejections)s::json) AS (
    write_key text, message_id text, raw text, reason text, received_at float8))
     WITH ORDINALITY AS u(write_key, message_id, raw, reason, received_at, n)
ORDER BY n;

-- name: add_to_counts
-- Always the last statement of its transaction, names sorted: counter rows are the
-- last locks anyone takes, so waiting for one never closes a cycle.
INSERT INTO job_counts AS c (name, shard, n)
SELECT key, %(shard)s::integer, value::bigint
FROM json_each_text(%(deltas)s::json) AS u(key, value)
ORDER BY key
ON CONFLICT (name, shard) DO UPDATE SET n = c.n + excluded.n;

-- ---------------------------------------------------------------- claim

-- name: claim
-- One statement: the due line heads (never attempted, oldest first; retrying, earliest
-- due first) and the expired leases of dead nodes, each from its partial index and
-- locked with SKIP LOCKED so concurrent claimers take different jobs without waiting;
-- the oldest `limit` of them are leased and counted. Heads stay heads while claimed
-- (lines only change under the lines locks), so a user is never claimed twice.
WITH fresh AS (
    SELECT id FROM jobs
    WHERE state = 'pending' AND blockers = 0 AND attempts = 0
      AND available_at <= %(now)s::float8
    ORDER BY id LIMIT %(limit)s::integer
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id FROM jobs
    WHERE state = 'pending' AND blockers = 0 AND attempts > 0
      AND available_at <= %(now)s::float8
    ORDER BY available_at, id LIMIT %(limit)s::integer
    FOR UPDATE SKIP LOCKED
), expired AS (
    -- Only line heads: a crashed worker may have held a user's line (claim_followers),
    -- whose later jobs wait until the earlier ones are settled.
    SELECT id FROM jobs
    WHERE state = 'claimed' AND lease_until < %(now)s::float8 AND blockers = 0
    ORDER BY lease_until LIMIT %(limit)s::integer
    FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT id, expired FROM (
        SELECT id, false AS expired FROM fresh
        UNION ALL SELECT id, false FROM due
        UNION ALL SELECT id, true FROM expired
    ) candidates
    ORDER BY id LIMIT %(limit)s::integer
), leased AS (
    UPDATE jobs SET state = 'claimed', lease_owner = %(worker)s::text,
                    lease_until = %(lease_until)s::float8, updated_at = %(now)s::float8
    FROM chosen WHERE jobs.id = chosen.id
    RETURNING jobs.id, jobs.write_key, jobs.message_id, jobs.event::text, jobs.event_type,
              jobs.user_key, jobs.ordering_keys, jobs.state, jobs.attempts,
              jobs.received_at, jobs.first_attempt_at, jobs.available_at, jobs.reason,
              jobs.account, chosen.expired
), counted AS (
    INSERT INTO job_counts AS c (name, shard, n)
    SELECT name, %(shard)s::integer, sum(delta) FROM (
        SELECT count_name(account, 'claimed') AS name, 1 AS delta FROM leased WHERE NOT expired
        UNION ALL
        SELECT count_name(account, CASE WHEN attempts > 0 THEN 'retrying' ELSE 'pending' END), -1
        FROM leased WHERE NOT expired
    ) changes
    GROUP BY name ORDER BY name
    ON CONFLICT (name, shard) DO UPDATE SET n = c.n + excluded.n
)
SELECT id, write_key, message_id, event, event_type, user_key, ordering_keys, state,
       attempts, received_at, first_attempt_at, available_at, reason, NULL, account
FROM leased, (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed
ORDER BY id;

-- name: line_behind
-- The lines of the heads just claimed, from each head (first) on, with what decides
-- whether a job may be claimed with its head: pending, due, and in no other line
-- (`sailbridge.store.base.may_follow`, applied by the caller). Followers are not line
-- heads, so no other claim can take them: reading them unlocked is safe.
SELECT h.id, b.job_id, jobs.state, jobs.available_at, jobs.ordering_keys, jobs.user_key
FROM json_to_recordset(%(heads)s::json) AS h(id bigint, user_key text)
CROSS JOIN LATERAL (SELECT job_id, pos FROM job_keys WHERE key = h.user_key
                    ORDER BY pos LIMIT %(size)s::integer) AS b
JOIN jobs ON jobs.id = b.job_id
ORDER BY h.id, b.pos;

-- name: lease_followers
-- Lease the followers chosen from line_behind (still pending: checked again under the
-- row locks, taken in id order), and count them as claimed.
WITH chosen AS (
    SELECT id FROM jobs
    WHERE id IN (SELECT value::bigint FROM json_array_elements_text(%(ids)s::json))
      AND state = 'pending'
    ORDER BY id
    FOR UPDATE
), leased AS (
    UPDATE jobs SET state = 'claimed', lease_owner = %(worker)s::text,
                    lease_until = %(lease_until)s::float8, updated_at = %(now)s::float8
    FROM chosen WHERE jobs.id = chosen.id
    RETURNING jobs.id, jobs.write_key, jobs.message_id, jobs.event::text, jobs.event_type,
              jobs.user_key, jobs.ordering_keys, jobs.state, jobs.attempts,
              jobs.received_at, jobs.first_attempt_at, jobs.available_at, jobs.reason,
              NULL::text AS history, jobs.account
), counted AS (
    INSERT INTO job_counts AS c (name, shard, n)
    SELECT name, %(shard)s::integer, sum(delta) FROM (
        SELECT count_name(account, 'claimed') AS name, 1 AS delta FROM leased
        UNION ALL
        SELECT count_name(account, CASE WHEN attempts > 0 THEN 'retrying' ELSE 'pending' END), -1
        FROM leased
    ) changes
    GROUP BY name ORDER BY name
    ON CONFLICT (name, shard) DO UPDATE SET n = c.n + excluded.n
)
SELECT * FROM leased ORDER BY id;

-- name: extend_leases
UPDATE jobs SET lease_until = %(lease_until)s::float8
WHERE id IN (SELECT value::bigint FROM json_array_elements_text(%(ids)s::json))
  AND state = 'claimed' AND lease_owner = %(worker)s::text
  AND set_config('synchronous_commit', 'off', true) IS NOT NULL;

-- ---------------------------------------------------------------- settle

-- name: job_owner
SELECT state, lease_owner FROM jobs WHERE id = %(id)s::bigint;

-- name: finish_jobs
-- A group of finishes (one per job, ids distinct) in one statement: only the holder of
-- a job's lease finishes it, and the job rows are locked in id order first (the lock
-- order: job rows, then lines), then updated; each attempt is recorded, and the
-- finished jobs' lines are locked (keys sorted) and left. The ids finished are noted
-- in the transaction for unblock_next, the statement after this one. Returns every
-- input job: whether it was finished, else its state and owner (the worker did not
-- hold it). Jobs finished together never share a key: each heads every line it is in.
WITH input AS (
    SELECT * FROM json_to_recordset(%(jobs)s::json) AS u(
        id bigint, worker text, state text, reason text, attempt_at float8, attempt json)
), mine AS (
    SELECT jobs.id FROM jobs JOIN input ON input.id = jobs.id
    WHERE jobs.state = 'claimed' AND jobs.lease_owner = input.worker
    ORDER BY jobs.id
    FOR UPDATE OF jobs
), finished AS (
    UPDATE jobs SET state = input.state, attempts = jobs.attempts + 1,
                    first_attempt_at = coalesce(jobs.first_attempt_at, input.attempt_at),
                    reason = input.reason, lease_owner = NULL, lease_until = NULL,
                    updated_at = input.attempt_at
    FROM input, mine
    WHERE jobs.id = input.id AND jobs.id = mine.id
      AND jobs.state = 'claimed' AND jobs.lease_owner = input.worker
    RETURNING jobs.id, jobs.ordering_keys, coalesce(jobs.line_pos, jobs.id) AS pos,
              input.attempt
), recorded AS (
    INSERT INTO job_attempts (job_id, attempt)
    SELECT id, attempt FROM finished ORDER BY id
), locked AS (
    INSERT INTO lines AS l (key)
    SELECT DISTINCT k COLLATE "C" FROM finished, unnest(finished.ordering_keys) AS k
    ORDER BY 1
    ON CONFLICT (key) DO UPDATE SET key = l.key WHERE false
), left_lines AS (
    DELETE FROM job_keys USING finished
    WHERE job_keys.key = ANY(finished.ordering_keys) AND job_keys.pos = finished.pos
)
SELECT input.id, finished.id IS NOT NULL, refused.state, refused.lease_owner
FROM input
LEFT JOIN finished ON finished.id = input.id
LEFT JOIN LATERAL (SELECT state, lease_owner FROM jobs  -- OFFSET 0: by id, not a scan
                   WHERE jobs.id = input.id AND finished.id IS NULL OFFSET 0) AS refused ON true,
(SELECT set_config('sailbridge.finished',
                   (SELECT coalesce(json_agg(id), '[]')::text FROM finished), true)) AS noted;

-- name: unblock_next
-- The jobs finish_jobs finished (noted in this transaction) headed each of their
-- lines, so each line's next job has one earlier job fewer (two fewer when it is next
-- in two of them). A statement after finish_jobs, so it sees the lines as they are now
-- that they are locked. The next jobs are locked in id order, so two groups of
-- finishes whose lines lead to the same jobs wait for each other instead of
-- deadlocking. The counters come after the unblocking (the sub-select runs it first):
-- they are the last locks taken.
WITH done AS (
    SELECT id, ordering_keys, state, account FROM jobs
    WHERE id = ANY (ARRAY(SELECT value::bigint FROM json_array_elements_text(
        coalesce(nullif(current_setting('sailbridge.finished', true), ''), '[]')::json)))
), heads AS (
    SELECT head.job_id, count(*) AS n
    FROM (SELECT DISTINCT k FROM done, unnest(done.ordering_keys) AS k) AS u
    CROSS JOIN LATERAL (SELECT job_id FROM job_keys WHERE key = u.k
                        ORDER BY pos LIMIT 1) AS head
    GROUP BY head.job_id
), next_jobs AS (
    SELECT jobs.id, heads.n FROM jobs JOIN heads ON heads.job_id = jobs.id
    ORDER BY jobs.id
    FOR UPDATE OF jobs
), unblocked AS (
    UPDATE jobs SET blockers = jobs.blockers - next_jobs.n
    FROM next_jobs
    WHERE jobs.id = next_jobs.id
    RETURNING 1
)
INSERT INTO job_counts AS c (name, shard, n)
SELECT name, %(shard)s::integer, sum(delta) FROM (
    SELECT count_name(account, 'claimed') AS name, -1 AS delta FROM done
    UNION ALL SELECT count_name(account, state), 1 FROM done
) AS changes
WHERE (SELECT count(*) FROM unblocked) >= 0
GROUP BY name
ORDER BY name
ON CONFLICT (name, shard) DO UPDATE SET n = c.n + excluded.n;

-- name: retry_job
-- Back to pending (retrying), the attempt recorded and counted, in one statement;
-- returns no row when the worker does not hold the job.
WITH moved AS (
    UPDATE jobs SET state = 'pending', attempts = attempts + 1,
                    first_attempt_at = coalesce(first_attempt_at, %(attempt_at)s::float8),
                    available_at = %(at)s::float8, lease_owner = NULL, lease_until = NULL,
                    updated_at = %(attempt_at)s::float8
    WHERE id = %(id)s::bigint AND state = 'claimed' AND lease_owner = %(worker)s::text
    RETURNING id, account
), recorded AS (
    INSERT INTO job_attempts (job_id, attempt) SELECT id, %(attempt)s::json FROM moved
)
INSERT INTO job_counts AS c (name, shard, n)
SELECT count_name(moved.account, v.name), %(shard)s::integer, delta
FROM moved, (VALUES ('claimed', -1), ('retrying', 1)) AS v(name, delta)
ORDER BY 1
ON CONFLICT (name, shard) DO UPDATE SET n = c.n + excluded.n
RETURNING 1;

-- name: release_job
-- Back to pending without an attempt; returns no row when the worker does not hold it.
WITH moved AS (
    UPDATE jobs SET state = 'pending', available_at = %(at)s::float8, lease_owner = NULL,
                    lease_until = NULL, updated_at = %(now)s::float8
    WHERE id = %(id)s::bigint AND state = 'claimed' AND lease_owner = %(worker)s::text
    RETURNING attempts, account
)
INSERT INTO job_counts AS c (name, shard, n)
SELECT count_name(moved.account, v.name), %(shard)s::integer, delta
FROM moved, LATERAL (VALUES ('claimed', -1),
                            (CASE WHEN moved.attempts > 0 THEN 'retrying' ELSE 'pending' END,
                             1)) AS v(name, delta)
ORDER BY 1
ON CONFLICT (name, shard) DO UPDATE SET n = c.n + excluded.n
RETURNING 1;

-- ---------------------------------------------------------------- replay, purge

-- name: dead_by_ids
SELECT id, ordering_keys, account FROM jobs
WHERE id IN (SELECT value::bigint FROM json_array_elements_text(%(ids)s::json))
  AND state = 'dead'
  AND (%(reason)s::text IS NULL OR strpos(reason, %(reason)s::text) > 0)
ORDER BY id
FOR UPDATE;

-- name: dead_by_reason
SELECT id, ordering_keys, account FROM jobs
WHERE state = 'dead' AND (%(reason)s::text IS NULL OR strpos(reason, %(reason)s::text) > 0)
ORDER BY id
FOR UPDATE;

-- name: requeue_jobs
UPDATE jobs SET state = 'pending', attempts = 0, first_attempt_at = NULL,
                available_at = %(now)s::float8, line_pos = u.pos, blockers = u.blockers,
                reason = NULL, lease_owner = NULL, lease_until = NULL,
                updated_at = %(now)s::float8
FROM json_to_recordset(%(jobs)s::json) AS u(id bigint, pos bigint, blockers integer)
WHERE jobs.id = u.id;

-- name: purge_dead_jobs
WITH doomed AS (
    SELECT id FROM jobs WHERE state = 'dead' AND updated_at < %(before)s::float8
    FOR UPDATE SKIP LOCKED
), history AS (
    DELETE FROM job_attempts USING doomed WHERE job_attempts.job_id = doomed.id
)
DELETE FROM jobs USING doomed WHERE jobs.id = doomed.id RETURNING jobs.account;

-- name: purge_jobs_of
-- Dead jobs chosen (and locked) by dead_by_ids / dead_by_reason, with their history.
WITH doomed AS (
    SELECT id FROM jobs
    WHERE id IN (SELECT value::bigint FROM json_array_elements_text(%(ids)s::json))
      AND state = 'dead'
), history AS (
    DELETE FROM job_attempts USING doomed WHERE job_attempts.job_id = doomed.id
)
DELETE FROM jobs USING doomed WHERE jobs.id = doomed.id;

-- name: purge_rejections
DELETE FROM rejections WHERE received_at < %(before)s::float8;

-- name: purge_finished_jobs
WITH doomed AS (
    SELECT id FROM jobs
    WHERE state IN ('delivered', 'skipped') AND updated_at < %(before)s::float8
    ORDER BY id LIMIT %(limit)s::integer
    FOR UPDATE SKIP LOCKED
), history AS (
    DELETE FROM job_attempts USING doomed WHERE job_attempts.job_id = doomed.id
)
DELETE FROM jobs USING doomed WHERE jobs.id = doomed.id;

-- name: forget_empty_lines
-- Lines rows are only locks: one whose line is empty can go (a later job re-creates
-- it). Rows locked right now are skipped.
DELETE FROM lines WHERE key IN (
    SELECT key FROM lines
    WHERE NOT EXISTS (SELECT 1 FROM job_keys WHERE job_keys.key = lines.key)
    LIMIT %(limit)s::integer FOR UPDATE SKIP LOCKED);

-- ---------------------------------------------------------------- reads

-- name: get_job
SELECT id, write_key, message_id, event::text, event_type, user_key, ordering_keys, state,
       attempts, received_at, first_attempt_at, available_at, reason,
       (SELECT json_agg(attempt ORDER BY seq) FROM job_attempts a WHERE a.job_id = j.id)::text,
       account
FROM jobs j WHERE id = %(id)s::bigint;

-- name: list_rejections
SELECT write_key, message_id, raw, reason, received_at FROM rejections
ORDER BY id LIMIT %(limit)s::integer;

-- ---------------------------------------------------------------- status, control

-- name: status
-- One statement, so the counts, the age and the pause are one snapshot. Every
-- account's counters (count_name); the age of the oldest unfinished job of
-- %(account)s, or of any account when it is NULL.
SELECT (SELECT coalesce(json_object_agg(name, total), '{}')::text
        FROM (SELECT name, sum(n) AS total FROM job_counts GROUP BY name) totals),
       CASE WHEN %(account)s::text IS NULL
            THEN (SELECT min(received_at) FROM jobs WHERE state IN ('pending', 'claimed'))
            ELSE (SELECT min(received_at) FROM jobs
                  WHERE account = %(account)s::text AND state IN ('pending', 'claimed'))
       END,
       (SELECT coalesce(json_object_agg(substr(name, 8), value), '{}')::text FROM control
        WHERE name LIKE 'paused:%%' AND value IS NOT NULL);

-- name: set_control
INSERT INTO control (name, value) VALUES (%(name)s::text, %(value)s::text)
ON CONFLICT (name) DO UPDATE SET value = excluded.value;

-- name: get_control
SELECT value FROM control WHERE name = %(name)s::text;

-- name: paused_accounts
SELECT substr(name, 8), value FROM control WHERE name LIKE 'paused:%%' AND value IS NOT NULL
ORDER BY name;

-- name: known_accounts
-- 'default' always (the rows stored before accounts are its), then every other one.
SELECT 'default' UNION SELECT name FROM accounts ORDER BY 1;

-- name: add_accounts
INSERT INTO accounts (name)
SELECT a FROM json_array_elements_text(%(names)s::json) AS u(a) ORDER BY a
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------- console reads
-- (the paged listings are composed by sailbridge.store.listing)

-- name: finished_per_minute
-- One count per minute and state from jobs_finished_at (a range each, index only): no
-- sort, which a GROUP BY on the minute would need (the planner cannot tell how few
-- minutes there are).
SELECT minute,
       (SELECT count(*) FROM jobs
        WHERE state = 'delivered' AND updated_at >= minute AND updated_at < minute + 60),
       (SELECT count(*) FROM jobs
        WHERE state = 'dead' AND updated_at >= minute AND updated_at < minute + 60)
FROM generate_series(%(since)s::bigint, %(until)s::bigint, 60) AS minutes(minute);
-- ---------------------------------------------------------------- backfill files

-- name: queued_kinds
-- The oldest `limit` unfinished jobs by type and (track) event name: what the drain
-- time estimate counts calls from. A bounded read of one partial index, however deep
-- the queue.
SELECT event_type, CASE WHEN event_type = 'track' THEN event->>'event' END, count(*)
FROM (SELECT event_type, event FROM jobs
      WHERE state IN ('pending', 'claimed') ORDER BY received_at LIMIT %(limit)s::integer) AS oldest
GROUP BY 1, 2;

-- name: queued_kinds_in
-- As queued_kinds, of one account's unfinished jobs (its own index: bounded however
-- deep the other accounts' queues are).
SELECT event_type, CASE WHEN event_type = 'track' THEN event->>'event' END, count(*)
FROM (SELECT event_type, event FROM jobs
      WHERE account = %(account)s::text AND state IN ('pending', 'claimed')
      ORDER BY received_at LIMIT %(limit)s::integer) AS oldest
GROUP BY 1, 2;

-- name: backfill_file
SELECT content_hash, kind, name, size, lines, state, updated_at, job_id, message,
       account
FROM backfill_files WHERE content_hash = %(content_hash)s;

-- name: save_backfill_file
INSERT INTO backfill_files (content_hash, kind, name, size, lines, state, job_id, message,
                            updated_at, account)
VALUES (%(content_hash)s, %(kind)s, %(name)s, %(size)s, %(lines)s, %(state)s, %(job_id)s,
        %(message)s, %(updated_at)s, %(account)s)
ON CONFLICT (content_hash) DO UPDATE SET
    kind = excluded.kind, name = excluded.name, size = excluded.size,
    lines = excluded.lines, state = excluded.state, job_id = excluded.job_id,
    message = excluded.message, updated_at = excluded.updated_at,
    account = excluded.account;
-- ---------------------------------------------------------------- send identities

-- name: lock_sends
-- `sailbridge send` processes queue one at a time, so a look-up and the enqueue that
-- follows it are one step: two sends racing on one file queue it once.
SELECT pg_advisory_xact_lock(%(lock)s::bigint);

-- name: sent_jobs
-- The latest job of each of these `send` identities (the write key is spelled out so
-- the partial index jobs_sent serves it).
SELECT message_id, max(id) FROM jobs
WHERE write_key = 'sailbridge-send' AND account = %(account)s::text
  AND message_id = ANY (ARRAY(SELECT json_array_elements_text(%(ids)s::json)))
GROUP BY message_id;

-- ---------------------------------------------------------------- forgetting a person
-- Every list (keys, emails, needles) is a JSON array of strings.

-- name: merges_touching
SELECT anonymous_id, user_id FROM memory_merge
WHERE account = %(account)s::text
  AND (anonymous_id = ANY (ARRAY(SELECT json_array_elements_text(%(keys)s::json)))
       OR user_id = ANY (ARRAY(SELECT json_array_elements_text(%(keys)s::json))));

-- name: emails_of
SELECT DISTINCT email FROM memory_email
WHERE account = %(account)s::text AND user_key = ANY (ARRAY(SELECT json_array_elements_text(%(keys)s::json)));

-- name: forget_memory
-- Emails (also remembered under other ids), carts and merges, in one statement.
WITH emails AS (
    DELETE FROM memory_email
    WHERE account = %(account)s::text
      AND (user_key = ANY (ARRAY(SELECT json_array_elements_text(%(keys)s::json)))
           OR lower(email) = ANY (ARRAY(SELECT lower(e) FROM json_array_elements_text(
              %(emails)s::json) AS u(e))))
), carts AS (
    DELETE FROM memory_cart
    WHERE account = %(account)s::text AND user_id = ANY (ARRAY(SELECT json_array_elements_text(%(keys)s::json)))
)
DELETE FROM memory_merge
WHERE account = %(account)s::text
  AND (anonymous_id = ANY (ARRAY(SELECT json_array_elements_text(%(keys)s::json)))
       OR user_id = ANY (ARRAY(SELECT json_array_elements_text(%(keys)s::json))));

-- name: forget_finished_jobs
-- Finished jobs of these ids (as user or in their ordering keys) or carrying one of
-- these emails in the payload, with their history; returns each one's state. A scan
-- of the finished jobs: forgetting is rare.
WITH doomed AS (
    SELECT id, state FROM jobs
    WHERE state IN ('delivered', 'skipped', 'dead') AND account = %(account)s::text
      AND (user_key = ANY (ARRAY(SELECT json_array_elements_text(%(keys)s::json)))
           OR ordering_keys && ARRAY(SELECT json_array_elements_text(%(line_keys)s::json))
           OR EXISTS (SELECT 1 FROM json_array_elements_text(%(emails)s::json) AS u(e)
                      WHERE strpos(lower(jobs.event::text), lower(u.e)) > 0))
    ORDER BY id
    FOR UPDATE
), history AS (
    DELETE FROM job_attempts USING doomed WHERE job_attempts.job_id = doomed.id
)
DELETE FROM jobs USING doomed WHERE jobs.id = doomed.id
RETURNING doomed.state;

-- name: forget_rejections
-- Rejected events mentioning an id (as a JSON string, quoted) or an email.
DELETE FROM rejections
WHERE EXISTS (SELECT 1 FROM json_array_elements_text(%(needles)s::json) AS u(n)
              WHERE strpos(lower(rejections.raw), lower(u.n)) > 0);

-- name: forget_empty_lines_of
-- The lock rows of these ids' lines, when empty (rows locked right now are skipped:
-- the line of the deletion being delivered goes when it is finished).
DELETE FROM lines WHERE key IN (
    SELECT key FROM lines
    WHERE key = ANY (ARRAY(SELECT json_array_elements_text(%(line_keys)s::json)))
      AND NOT EXISTS (SELECT 1 FROM job_keys WHERE job_keys.key = lines.key)
    FOR UPDATE SKIP LOCKED);

-- name: mark_claimed_jobs
-- The job delivering the deletion (claimed now, head of the user's line): deleted when
-- it is finished (forget_marked_jobs). Line heads only: the later jobs a worker holds
-- with it (claim_groups) come after the deletion and stay.
INSERT INTO forget_on_finish (job_id)
SELECT DISTINCT jobs.id FROM job_keys JOIN jobs ON jobs.id = job_keys.job_id
WHERE job_keys.key = ANY (ARRAY(SELECT json_array_elements_text(%(line_keys)s::json)))
  AND jobs.state = 'claimed' AND jobs.blockers = 0
ON CONFLICT DO NOTHING;

-- name: forget_marked_jobs
-- After finish_jobs and unblock_next (same transaction): the finished jobs that were
-- marked by mark_claimed_jobs go, with their history.
WITH marked AS (
    DELETE FROM forget_on_finish
    WHERE job_id = ANY (ARRAY(SELECT value::bigint FROM json_array_elements_text(
        coalesce(nullif(current_setting('sailbridge.finished', true), ''), '[]')::json)))
    RETURNING job_id
), history AS (
    DELETE FROM job_attempts USING marked WHERE job_attempts.job_id = marked.job_id
), gone AS (
    DELETE FROM jobs USING marked WHERE jobs.id = marked.job_id RETURNING jobs.ordering_keys
)
-- Their lines' lock rows (locked by finish_jobs already) name the person: when the
-- line is empty now, they go too.
DELETE FROM lines
WHERE key IN (SELECT unnest(ordering_keys) FROM gone)
  AND NOT EXISTS (SELECT 1 FROM job_keys WHERE job_keys.key = lines.key);
