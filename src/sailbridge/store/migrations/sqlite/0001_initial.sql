-- sailbridge SQLite schema, version 1: the delivery queue, its history, dedupe,
-- rejections, counters, shared control state and sailbridge's memory.
--
-- Ordering. Every unfinished job (pending, retrying, claimed) has one row in job_keys
-- per ordering key, so each key has a *line* of unfinished jobs ordered by pos. A job's
-- `blockers` is the number of its keys whose line has an earlier job than it; the
-- writer keeps it exact on enqueue, finish and replay. A job is claimable only when
-- blockers = 0 (it heads every line it is in), so the ready indexes below hold only
-- line heads: claiming never walks past the blocked tail of a busy user, whatever
-- the queue depth.

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order, never reused
    write_key        TEXT    NOT NULL,
    message_id       TEXT,
    event            BLOB    NOT NULL,                   -- Segment JSON (msgspec)
    event_type       TEXT    NOT NULL,
    user_key         TEXT    NOT NULL,
    ordering_keys    TEXT    NOT NULL,                   -- JSON array of strings
    line_pos         INTEGER,                            -- place in its lines; NULL = id
    blockers         INTEGER NOT NULL DEFAULT 0,
    state            TEXT    NOT NULL,                   -- pending|claimed|delivered|skipped|dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    received_at      REAL    NOT NULL,
    first_attempt_at REAL,
    available_at     REAL    NOT NULL,
    lease_owner      TEXT,
    lease_until      REAL,
    reason           TEXT,
    updated_at       REAL    NOT NULL
);

-- Line heads never attempted, in arrival order (available_at covered for the filter).
CREATE INDEX jobs_ready_new ON jobs (id, available_at)
    WHERE state = 'pending' AND blockers = 0 AND attempts = 0;

-- Line heads waiting to retry, by the time they are due.
CREATE INDEX jobs_ready_retry ON jobs (available_at)
    WHERE state = 'pending' AND blockers = 0 AND attempts > 0;

-- Leases, so expired ones (crashed workers) are found without a scan.
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'claimed';

-- Listing by state (admin, dead letters, purge).
CREATE INDEX jobs_by_state ON jobs (state, id);

-- Age of the oldest unfinished event, for status.
CREATE INDEX jobs_unfinished_age ON jobs (received_at) WHERE state IN ('pending', 'claimed');

CREATE TABLE job_keys (
    key    TEXT    NOT NULL,
    pos    INTEGER NOT NULL,
    job_id INTEGER NOT NULL,
    PRIMARY KEY (key, pos)
) WITHOUT ROWID;

CREATE TABLE job_attempts (
    job_id  INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    attempt BLOB    NOT NULL,                            -- Attempt as JSON
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

CREATE TABLE seen_messages (
    write_key  TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seen_at    REAL NOT NULL,
    PRIMARY KEY (write_key, message_id)
) WITHOUT ROWID;

CREATE INDEX seen_messages_age ON seen_messages (seen_at);

CREATE TABLE rejections (
    id          INTEGER PRIMARY KEY,
    write_key   TEXT NOT NULL,
    message_id  TEXT,
    raw         TEXT NOT NULL,
    reason      TEXT NOT NULL,
    received_at REAL NOT NULL
);

CREATE INDEX rejections_age ON rejections (received_at);

-- Counters kept exact by the writer in the same transactions as the rows they count,
-- so status is a dozen-row read however deep the queue.
CREATE TABLE job_counts (
    name TEXT    PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO job_counts (name, n) VALUES
    ('pending', 0), ('retrying', 0), ('claimed', 0), ('delivered', 0),
    ('skipped', 0), ('dead', 0), ('rejected', 0);

-- Shared control state (pause), one row per setting.
CREATE TABLE control (
    name  TEXT PRIMARY KEY,
    value TEXT
) WITHOUT ROWID;

-- Memory. IF NOT EXISTS: files written by sailbridge before migrations existed
-- already have these tables, with the same shape.
CREATE TABLE IF NOT EXISTS memory_email (
    user_key   TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS memory_cart (
    user_id   TEXT PRIMARY KEY,
    items     BLOB NOT NULL,
    posted_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS memory_merge (
    anonymous_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    merged_at    REAL NOT NULL,
    PRIMARY KEY (anonymous_id, user_id)
);
