-- sailbridge PostgreSQL schema, version 5: many Sailthru accounts in one store.
--
-- An account on every row that belongs to one; what was stored before belongs to the
-- account 'default' (the one today's settings describe). Lines need no change: a line
-- key is the ordering key for 'default' and carries its account for any other
-- (sailbridge.store.accounts), so an existing queue keeps its order as it is.

ALTER TABLE jobs ADD COLUMN account text NOT NULL DEFAULT 'default';

-- Every account but 'default' this store has queued for (forgetting in "every
-- account" reads it; 'default' is always one).
CREATE TABLE accounts (
    name text PRIMARY KEY
);

-- Claiming one account's line heads without stepping over another's (a paused
-- account's backlog must cost the others' claims nothing).
CREATE INDEX jobs_ready_new_in_account ON jobs (account, id, available_at)
    WHERE state = 'pending' AND blockers = 0 AND attempts = 0;

CREATE INDEX jobs_ready_retry_in_account ON jobs (account, available_at, id)
    WHERE state = 'pending' AND blockers = 0 AND attempts > 0;

-- `send` identities are per account: the same file sent to two accounts is two sends.
DROP INDEX jobs_sent;
CREATE INDEX jobs_sent ON jobs (account, message_id) WHERE write_key = 'sailbridge-send';

-- Memory per account (a profile in one account is not a profile in another).
ALTER TABLE memory_email ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE memory_email DROP CONSTRAINT memory_email_pkey;
ALTER TABLE memory_email ADD PRIMARY KEY (account, user_key);

ALTER TABLE memory_cart ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE memory_cart DROP CONSTRAINT memory_cart_pkey;
ALTER TABLE memory_cart ADD PRIMARY KEY (account, user_id);

ALTER TABLE memory_merge ADD COLUMN account text NOT NULL DEFAULT 'default';
ALTER TABLE memory_merge DROP CONSTRAINT memory_merge_pkey;
ALTER TABLE memory_merge ADD PRIMARY KEY (account, anonymous_id, user_id);
DROP INDEX memory_merge_by_user;
CREATE INDEX memory_merge_by_user ON memory_merge (account, user_id);

-- The pause is per account: one account's refused credentials stop only its delivery.
UPDATE control SET name = 'paused:default' WHERE name = 'paused';

-- A backfill file is uploaded to one account.
ALTER TABLE backfill_files ADD COLUMN account text NOT NULL DEFAULT 'default';
