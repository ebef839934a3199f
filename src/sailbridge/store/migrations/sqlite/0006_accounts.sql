-- sailbridge SQLite schema, version 6: many Sailthru accounts in one store.
--
-- An account on every row that belongs to one; what was stored before belongs to the
-- account 'default' (the one today's settings describe). Lines need no change: a line
-- key is the ordering key for 'default' and carries its account for any other
-- (sailbridge.store.accounts), so an existing queue keeps its order as it is.

ALTER TABLE jobs ADD COLUMN account TEXT NOT NULL DEFAULT 'default';

-- Every account but 'default' this store has queued for (forgetting in "every
-- account" reads it; 'default' is always one).
CREATE TABLE accounts (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;

-- Claiming one account's line heads without stepping over another's (a paused
-- account's backlog must cost the others' claims nothing).
CREATE INDEX jobs_ready_new_in_account ON jobs (account, id, available_at)
    WHERE state = 'pending' AND blockers = 0 AND attempts = 0;

CREATE INDEX jobs_ready_retry_in_account ON jobs (account, available_at)
    WHERE state = 'pending' AND blockers = 0 AND attempts > 0;

-- `send` identities are per account: the same file sent to two accounts is two sends.
DROP INDEX jobs_sent;
CREATE INDEX jobs_sent ON jobs (account, message_id) WHERE write_key = 'sailbridge-send';

-- Memory per account (a profile in one account is not a profile in another): the
-- account joins each key, so the tables are rebuilt.
CREATE TABLE memory_email_v6 (
    account    TEXT NOT NULL,
    user_key   TEXT NOT NULL,
    email      TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (account, user_key)
);
INSERT INTO memory_email_v6 SELECT 'default', user_key, email, updated_at FROM memory_email;
DROP TABLE memory_email;
ALTER TABLE memory_email_v6 RENAME TO memory_email;

CREATE TABLE memory_cart_v6 (
    account   TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    items     BLOB NOT NULL,
    posted_at REAL NOT NULL,
    PRIMARY KEY (account, user_id)
);
INSERT INTO memory_cart_v6 SELECT 'default', user_id, items, posted_at FROM memory_cart;
DROP TABLE memory_cart;
ALTER TABLE memory_cart_v6 RENAME TO memory_cart;

CREATE TABLE memory_merge_v6 (
    account      TEXT NOT NULL,
    anonymous_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    merged_at    REAL NOT NULL,
    PRIMARY KEY (account, anonymous_id, user_id)
);
INSERT INTO memory_merge_v6 SELECT 'default', anonymous_id, user_id, merged_at FROM memory_merge;
DROP TABLE memory_merge;
ALTER TABLE memory_merge_v6 RENAME TO memory_merge;
CREATE INDEX memory_merge_by_user ON memory_merge (account, user_id);

-- The pause is per account: one account's refused credentials stop only its delivery.
UPDATE control SET name = 'paused:default' WHERE name = 'paused';

-- A backfill file is uploaded to one account.
ALTER TABLE backfill_files ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
