-- Named queries of the SQLite store and memory (loaded by sailbridge.store.sqlite.connection).
-- Each query starts at a "-- name: <name>" line; the comment lines after it say why.
-- Lists of ids are bound as one JSON array and read back with json_each, so every
-- query here is static text and stays in the statement cache.

-- name: create_schema_version
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at REAL    NOT NULL
);

-- name: schema_version
SELECT coalesce(max(version), 0) FROM schema_version;

-- name: record_schema_version
INSERT INTO schema_version (version, applied_at) VALUES (:version, :now);

-- ---------------------------------------------------------------- memory

-- name: memory_email
SELECT email FROM memory_email WHERE account = :account AND user_key = :user_key;

-- name: memory_cart
SELECT items, posted_at FROM memory_cart
WHERE account = :account AND user_id = :user_id AND posted_at >= :since;

-- name: memory_merged
SELECT 1 FROM memory_merge
WHERE account = :account AND anonymous_id = :anonymous_id AND user_id = :user_id;

-- name: memory_remember_email
INSERT INTO memory_email (account, user_key, email, updated_at)
VALUES (:account, :user_key, :email, :now)
ON CONFLICT (account, user_key) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at;

-- name: memory_remember_cart
INSERT INTO memory_cart (account, user_id, items, posted_at)
VALUES (:account, :user_id, :items, :now)
ON CONFLICT (account, user_id) DO UPDATE SET items = excluded.items, posted_at = excluded.posted_at;

-- name: memory_remember_merge
INSERT OR IGNORE INTO memory_merge (account, anonymous_id, user_id, merged_at)
VALUES (:account, :anonymous_id, :user_id, :now);

-- ---------------------------------------------------------------- enqueue

-- name: seen_messages
-- Which of these message ids (one write key) were seen since `seen_after`, and when.
SELECT message_id, seen_at FROM seen_messages
WHERE write_key = :write_key AND message_id IN (SELECT value FROM json_each(:message_ids))
  AND seen_at >= :seen_after;

-- name: remember_message
-- Positional (write_key, message_id, now): bound once per event, tuples are cheaper.
INSERT INTO seen_messages (write_key, message_id, seen_at) VALUES (?, ?, ?)
ON CONFLICT (write_key, message_id) DO UPDATE SET seen_at = excluded.seen_at;

-- name: forget_messages
DELETE FROM seen_messages WHERE seen_at < :seen_after;

-- name: busy_lines
-- Which of these ordering keys already have an unfinished job.
SELECT value FROM json_each(:keys)
WHERE EXISTS (SELECT 1 FROM job_keys WHERE key = value);

-- name: last_job_id
-- Ids are handed out by the (single) writer inside its IMMEDIATE transaction, so a
-- batch is inserted with executemany yet each job knows its id.
SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'jobs'), 0);

-- name: insert_job
-- Positional, in the order of the column list (`now` twice), bound once per delivery.
INSERT INTO jobs (id, write_key, message_id, event, event_type, user_key, ordering_keys,
                  blockers, state, attempts, received_at, available_at, updated_at, account)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?);

-- name: join_line
-- Positional (key, pos, job_id).
INSERT INTO job_keys (key, pos, job_id) VALUES (?, ?, ?);

-- ---------------------------------------------------------------- inbox (accept, sort)

-- name: accept_into_inbox
INSERT INTO inbox (events, jobs, dedupe_window, accepted_at, received_at)
VALUES (:events, :jobs, :dedupe_window, :now, :received_at);

-- name: inbox_rows
-- Oldest first; the sorter reads only as many as its chunk takes.
SELECT id, events, jobs, dedupe_window, accepted_at FROM inbox ORDER BY id;

-- name: forget_inbox_rows
-- Rows are sorted as a prefix of the table, in the transaction that sorts them.
DELETE FROM inbox WHERE id <= :last;

-- name: inbox_head
SELECT row, sorted FROM inbox_head WHERE id = 1;

-- name: set_inbox_head
UPDATE inbox_head SET row = :row, sorted = :sorted WHERE id = 1;

-- name: inbox_first_id
SELECT min(id) FROM inbox;

-- name: inbox_last_id
SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'inbox'), 0);

-- name: oldest_in_inbox
-- The oldest row's earliest event (rows arrive in receive order, give or take a few ms).
SELECT received_at FROM inbox ORDER BY id LIMIT 1;

-- ---------------------------------------------------------------- rejections

-- name: insert_rejection
INSERT INTO rejections (write_key, message_id, raw, reason, received_at)
VALUES (:write_key, :message_id, :raw, :reason, :received_at);

-- ---------------------------------------------------------------- claim

-- name: claimable_new
-- Line heads never attempted, oldest first. Only heads are in this index, so the
-- scan reads about `limit` entries however many blocked jobs wait behind them.
SELECT id FROM jobs INDEXED BY jobs_ready_new
WHERE state = 'pending' AND blockers = 0 AND attempts = 0 AND available_at <= :now
ORDER BY id LIMIT :limit;

-- name: claimable_retry
-- Line heads whose retry is due, earliest due first.
SELECT id FROM jobs INDEXED BY jobs_ready_retry
WHERE state = 'pending' AND blockers = 0 AND attempts > 0 AND available_at <= :now
ORDER BY available_at LIMIT :limit;

-- name: claimable_expired
-- Claimed jobs whose worker stopped renewing the lease (crashed) and that head their
-- lines: a crashed worker may have held a user's line (claim_groups), whose later jobs
-- wait until the earlier ones are settled.
SELECT id FROM jobs INDEXED BY jobs_leased
WHERE state = 'claimed' AND lease_until < :now AND blockers = 0
ORDER BY lease_until LIMIT :limit;

-- name: claimable_new_in
-- As claimable_new, one account's line heads only (jobs_ready_new_in_account).
SELECT id FROM jobs INDEXED BY jobs_ready_new_in_account
WHERE account = :account AND state = 'pending' AND blockers = 0 AND attempts = 0
  AND available_at <= :now
ORDER BY account, id LIMIT :limit;

-- name: claimable_retry_in
SELECT id FROM jobs INDEXED BY jobs_ready_retry_in_account
WHERE account = :account AND state = 'pending' AND blockers = 0 AND attempts > 0
  AND available_at <= :now
ORDER BY account, available_at LIMIT :limit;

-- name: claimable_expired_in
-- Expired leases are few (a crashed node's jobs): filtered by account as they are read.
SELECT id FROM jobs INDEXED BY jobs_leased
WHERE state = 'claimed' AND lease_until < :now AND account = :account
ORDER BY lease_until LIMIT :limit;

-- name: line_behind
-- A line from its head (the claimed job first), with what decides whether each job
-- may be claimed with the head: pending, due, and in no other line.
SELECT k.job_id, j.state, j.available_at, j.ordering_keys, j.user_key
FROM job_keys k JOIN jobs j ON j.id = k.job_id
WHERE k.key = :key
ORDER BY k.pos LIMIT :limit;

-- name: lease_jobs
UPDATE jobs SET state = 'claimed', lease_owner = :worker, lease_until = :lease_until,
                updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids))
RETURNING id, write_key, message_id, event, event_type, user_key, ordering_keys, state,
          attempts, received_at, first_attempt_at, available_at, reason, account;

-- name: extend_leases
UPDATE jobs SET lease_until = :lease_until
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'claimed'
  AND lease_owner = :worker;

-- ---------------------------------------------------------------- settle

-- name: job_lease
SELECT state, lease_owner, attempts, ordering_keys, coalesce(line_pos, id), account
FROM jobs WHERE id = :id;

-- name: append_attempt
INSERT INTO job_attempts (job_id, seq, attempt)
SELECT :job_id, coalesce(max(seq), 0) + 1, :attempt FROM job_attempts WHERE job_id = :job_id;

-- name: finish_job
UPDATE jobs SET state = :state, attempts = attempts + 1,
                first_attempt_at = coalesce(first_attempt_at, :attempt_at), reason = :reason,
                lease_owner = NULL, lease_until = NULL, updated_at = :attempt_at
WHERE id = :id;

-- name: leave_line
DELETE FROM job_keys WHERE key = :key AND pos = :pos;

-- name: unblock_next
-- The job leaving a line was its head, so the next job in that line has one earlier
-- job fewer on that key.
UPDATE jobs SET blockers = blockers - 1
WHERE id = (SELECT job_id FROM job_keys WHERE key = :key ORDER BY pos LIMIT 1);

-- name: schedule_retry
UPDATE jobs SET state = 'pending', attempts = attempts + 1,
                first_attempt_at = coalesce(first_attempt_at, :attempt_at), available_at = :at,
                lease_owner = NULL, lease_until = NULL, updated_at = :attempt_at
WHERE id = :id;

-- name: release_job
UPDATE jobs SET state = 'pending', available_at = :at, lease_owner = NULL,
                lease_until = NULL, updated_at = :now
WHERE id = :id;

-- ---------------------------------------------------------------- replay, purge

-- name: dead_by_ids
SELECT id, ordering_keys, account FROM jobs
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'dead'
  AND (:reason IS NULL OR instr(reason, :reason) > 0)
ORDER BY id;

-- name: dead_by_reason
SELECT id, ordering_keys, account FROM jobs INDEXED BY jobs_by_state
WHERE state = 'dead' AND (:reason IS NULL OR instr(reason, :reason) > 0)
ORDER BY id;

-- name: reserve_positions
-- Replayed jobs join the back of their lines: they take positions after every id
-- used so far, reserved from the AUTOINCREMENT counter so no later job collides.
UPDATE sqlite_sequence SET seq = seq + :n WHERE name = 'jobs' RETURNING seq;

-- name: requeue_job
UPDATE jobs SET state = 'pending', attempts = 0, first_attempt_at = NULL,
                available_at = :now, line_pos = :pos, blockers = :blockers, reason = NULL,
                lease_owner = NULL, lease_until = NULL, updated_at = :now
WHERE id = :id;

-- name: purge_dead_attempts
DELETE FROM job_attempts
WHERE job_id IN (SELECT id FROM jobs WHERE state = 'dead' AND updated_at < :before);

-- name: purge_dead_jobs
DELETE FROM jobs WHERE state = 'dead' AND updated_at < :before RETURNING account;

-- name: purge_attempts_of
DELETE FROM job_attempts WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: purge_jobs_of
DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'dead';

-- name: purge_finished_attempts
DELETE FROM job_attempts
WHERE job_id IN (SELECT id FROM jobs WHERE state IN ('delivered', 'skipped')
                 AND updated_at < :before ORDER BY id LIMIT :limit);

-- name: purge_finished_jobs
DELETE FROM jobs
WHERE id IN (SELECT id FROM jobs WHERE state IN ('delivered', 'skipped')
             AND updated_at < :before ORDER BY id LIMIT :limit);

-- name: purge_rejections
DELETE FROM rejections WHERE received_at < :before;

-- ---------------------------------------------------------------- reads

-- name: get_job
SELECT id, write_key, message_id, event, event_type, user_key, ordering_keys, state,
       attempts, received_at, first_attempt_at, available_at, reason, account
FROM jobs WHERE id = :id;

-- name: job_history
SELECT job_id, attempt FROM job_attempts
WHERE job_id IN (SELECT value FROM json_each(:ids))
ORDER BY job_id, seq;

-- name: list_rejections
SELECT write_key, message_id, raw, reason, received_at FROM rejections
ORDER BY id LIMIT :limit;

-- ---------------------------------------------------------------- status, control

-- name: job_counts
SELECT name, n FROM job_counts;

-- name: add_to_count
-- An account's counters appear with its first job (sailbridge.store.accounts.count_name).
INSERT INTO job_counts (name, n) VALUES (:name, :delta)
ON CONFLICT (name) DO UPDATE SET n = n + excluded.n;

-- name: oldest_unfinished
SELECT min(received_at) FROM jobs INDEXED BY jobs_unfinished_age
WHERE state IN ('pending', 'claimed');

-- name: oldest_unfinished_in
SELECT min(received_at) FROM jobs INDEXED BY jobs_unfinished_age_in_account
WHERE account = :account AND state IN ('pending', 'claimed');

-- name: set_control
INSERT INTO control (name, value) VALUES (:name, :value)
ON CONFLICT (name) DO UPDATE SET value = excluded.value;

-- name: get_control
SELECT value FROM control WHERE name = :name;

-- name: known_accounts
-- 'default' always (the rows stored before accounts are its), then every other one.
SELECT 'default' UNION SELECT name FROM accounts ORDER BY 1;

-- name: add_accounts
INSERT OR IGNORE INTO accounts (name) SELECT value FROM json_each(:names);

-- name: paused_accounts
SELECT substr(name, 8), value FROM control WHERE name LIKE 'paused:%' AND value IS NOT NULL
ORDER BY name;

-- ---------------------------------------------------------------- console reads
-- (the paged listings are composed by sailbridge.store.listing)

-- name: finished_per_minute
-- One count per minute and state from jobs_finished_at (a range each; no sort). The
-- index's own condition is repeated word for word: SQLite uses a partial index only
-- when the query states its WHERE term.
WITH RECURSIVE minutes(minute) AS (
    SELECT :since UNION ALL SELECT minute + 60 FROM minutes WHERE minute + 60 <= :until
)
SELECT minute,
       (SELECT count(*) FROM jobs INDEXED BY jobs_finished_at
        WHERE state IN ('delivered', 'dead') AND state = 'delivered'
          AND updated_at >= minute AND updated_at < minute + 60),
       (SELECT count(*) FROM jobs INDEXED BY jobs_finished_at
        WHERE state IN ('delivered', 'dead') AND state = 'dead'
          AND updated_at >= minute AND updated_at < minute + 60)
FROM minutes;
-- ---------------------------------------------------------------- backfill files

-- name: queued_kinds
-- The oldest `limit` unfinished jobs by type and (track) event name: what the drain
-- time estimate counts calls from. A bounded read of one partial index, however deep
-- the queue.
SELECT event_type,
       CASE WHEN event_type = 'track' THEN json_extract(CAST(event AS TEXT), '$.event') END,
       count(*)
FROM (SELECT event_type, event FROM jobs INDEXED BY jobs_unfinished_age
      WHERE state IN ('pending', 'claimed') ORDER BY received_at LIMIT :limit)
GROUP BY 1, 2;

-- name: queued_kinds_in
-- As queued_kinds, of one account's unfinished jobs (its own index: bounded however
-- deep the other accounts' queues are).
SELECT event_type,
       CASE WHEN event_type = 'track' THEN json_extract(CAST(event AS TEXT), '$.event') END,
       count(*)
FROM (SELECT event_type, event FROM jobs INDEXED BY jobs_unfinished_age_in_account
      WHERE account = :account AND state IN ('pending', 'claimed')
      ORDER BY received_at LIMIT :limit)
GROUP BY 1, 2;

-- name: backfill_file
SELECT content_hash, kind, name, size, lines, state, updated_at, job_id, message,
       account
FROM backfill_files WHERE content_hash = :content_hash;

-- name: save_backfill_file
INSERT INTO backfill_files (content_hash, kind, name, size, lines, state, job_id, message,
                            updated_at, account)
VALUES (:content_hash, :kind, :name, :size, :lines, :state, :job_id, :message, :updated_at, :account)
ON CONFLICT (content_hash) DO UPDATE SET
    kind = excluded.kind, name = excluded.name, size = excluded.size,
    lines = excluded.lines, state = excluded.state, job_id = excluded.job_id,
    message = excluded.message, updated_at = excluded.updated_at,
    account = excluded.account;
-- ---------------------------------------------------------------- send identities

-- name: sent_jobs
-- The latest job of each of these `send` identities (the write key is spelled out so
-- the partial index jobs_sent serves it).
SELECT message_id, max(id) FROM jobs INDEXED BY jobs_sent
WHERE write_key = 'sailbridge-send' AND account = :account
  AND message_id IN (SELECT value FROM json_each(:ids))
GROUP BY message_id;

-- ---------------------------------------------------------------- forgetting a person
-- Every list (:keys, :emails, :needles, :ids) is a JSON array. They run with
-- secure_delete ON, so what they delete is overwritten, not just unlinked.

-- name: merges_touching
SELECT anonymous_id, user_id FROM memory_merge
WHERE account = :account AND (anonymous_id IN (SELECT value FROM json_each(:keys))
                              OR user_id IN (SELECT value FROM json_each(:keys)));

-- name: emails_of
SELECT DISTINCT email FROM memory_email
WHERE account = :account AND user_key IN (SELECT value FROM json_each(:keys));

-- name: forget_emails
DELETE FROM memory_email
WHERE account = :account AND (user_key IN (SELECT value FROM json_each(:keys))
                              OR lower(email) IN (SELECT lower(value) FROM json_each(:emails)));

-- name: forget_carts
DELETE FROM memory_cart
WHERE account = :account AND user_id IN (SELECT value FROM json_each(:keys));

-- name: forget_merges
DELETE FROM memory_merge
WHERE account = :account AND (anonymous_id IN (SELECT value FROM json_each(:keys))
                              OR user_id IN (SELECT value FROM json_each(:keys)));

-- name: forget_search_ends
-- The newest job and rejection when a person's memory was forgotten: the search for
-- their traces goes up to these (anything newer is a new event, after the deletion).
SELECT (SELECT coalesce(max(id), 0) FROM jobs), (SELECT coalesce(max(id), 0) FROM rejections);

-- name: finished_jobs_of
-- Finished jobs with ids in (:after, :through] of these ids (as user or in their
-- ordering keys) or carrying one of these emails anywhere in the payload. One chunk of
-- the search, on a reader (a range of the primary key: bounded work per chunk).
SELECT id FROM jobs
WHERE id > :after AND id <= :through
  AND state IN ('delivered', 'skipped', 'dead') AND account = :account
  AND (user_key IN (SELECT value FROM json_each(:keys))
       OR EXISTS (SELECT 1 FROM json_each(jobs.ordering_keys) AS k
                  WHERE k.value IN (SELECT value FROM json_each(:line_keys)))
       OR EXISTS (SELECT 1 FROM json_each(:emails) AS e
                  WHERE instr(lower(CAST(jobs.event AS TEXT)), lower(e.value)) > 0));

-- name: rejections_of
-- Rejected events with ids in (:after, :through] mentioning an id (as a JSON string,
-- quoted) or an email.
SELECT id FROM rejections
WHERE id > :after AND id <= :through
  AND EXISTS (SELECT 1 FROM json_each(:needles) AS n
              WHERE instr(lower(rejections.raw), lower(n.value)) > 0);

-- name: finished_states_of
-- Of the jobs found, those still finished (a replayed one is pending again and stays).
SELECT state, account FROM jobs
WHERE id IN (SELECT value FROM json_each(:ids)) AND state IN ('delivered', 'skipped', 'dead');

-- name: forget_finished_attempts
DELETE FROM job_attempts WHERE job_id IN (
    SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(:ids))
                          AND state IN ('delivered', 'skipped', 'dead'));

-- name: forget_finished_jobs
DELETE FROM jobs
WHERE id IN (SELECT value FROM json_each(:ids)) AND state IN ('delivered', 'skipped', 'dead');

-- name: forget_attempts
DELETE FROM job_attempts WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: forget_jobs
DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: forget_rejections
DELETE FROM rejections WHERE id IN (SELECT value FROM json_each(:ids));

-- name: claimed_jobs_of
-- The job being delivered for these ids right now (the deletion itself): line heads
-- only, since the later jobs a worker holds with it (claim_groups) come after the
-- deletion and stay.
SELECT DISTINCT jobs.id FROM job_keys JOIN jobs ON jobs.id = job_keys.job_id
WHERE job_keys.key IN (SELECT value FROM json_each(:line_keys)) AND jobs.state = 'claimed'
  AND jobs.blockers = 0;

-- name: forget_when_finished
INSERT OR IGNORE INTO forget_on_finish (job_id) VALUES (:id);

-- name: take_forget_mark
DELETE FROM forget_on_finish WHERE job_id = :id;

-- name: wipe_fill
-- Takes pages off the free list and writes zeros over them (see wipe_free_pages).
INSERT INTO free_page_wipe (filler) VALUES (zeroblob(:bytes));

-- name: wipe_empty
DELETE FROM free_page_wipe;
