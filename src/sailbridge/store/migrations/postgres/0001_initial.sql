-- sailbridge PostgreSQL schema, version 1: the delivery queue shared by every node, its
-- history, dedupe, rejections, counters, shared control state, sailbridge's memory and
-- the global rate-limit slots.
--
-- Ordering works as in the SQLite schema: every unfinished job (pending, retrying,
-- claimed) has one row in job_keys per ordering key, so each key has a *line* of
-- unfinished jobs ordered by pos, and a job's `blockers` counts its keys whose line
-- has an earlier job. Only jobs with blockers = 0 (line heads) are in the ready
-- indexes, so a claim reads about `limit` index entries whatever the depth.
--
-- Across nodes, everything that changes a line (enqueue, finish, replay) first locks
-- the `lines` rows of its keys, in key order. So the transactions touching one key run
-- one after the other, each seeing the last one's commit, and positions (taken from
-- jobs_id_seq while the lock is held) follow commit order within every line.
-- Claiming changes no line; it only needs the job rows (FOR UPDATE SKIP LOCKED).
--
-- Times are epoch seconds (double precision), as the store contract passes them.

CREATE TABLE jobs (
    id               bigint           PRIMARY KEY,  -- from jobs_id_seq: arrival order
    write_key        text             NOT NULL,
    message_id       text,
    event            json             NOT NULL,     -- Segment JSON, text kept as sent
    event_type       text             NOT NULL,
    user_key         text             NOT NULL,
    ordering_keys    text[]           NOT NULL,
    line_pos         bigint,                        -- place in its lines; NULL = id
    blockers         integer          NOT NULL DEFAULT 0,
    state            text             NOT NULL,     -- pending|claimed|delivered|skipped|dead
    attempts         integer          NOT NULL DEFAULT 0,
    received_at      double precision NOT NULL,
    first_attempt_at double precision,
    available_at     double precision NOT NULL,
    lease_owner      text,
    lease_until      double precision,
    reason           text,
    updated_at       double precision NOT NULL
) WITH (
    -- A queue table: every job is inserted, updated a few times and deleted. Vacuum it
    -- early so the ready indexes do not fill with dead entries claims must step over.
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02
);

-- Job ids and line positions (a replayed job takes a fresh position at the back).
CREATE SEQUENCE jobs_id_seq OWNED BY jobs.id;

-- Line heads never attempted, in arrival order.
CREATE INDEX jobs_ready_new ON jobs (id, available_at)
    WHERE state = 'pending' AND blockers = 0 AND attempts = 0;

-- Line heads waiting to retry, by the time they are due.
CREATE INDEX jobs_ready_retry ON jobs (available_at, id)
    WHERE state = 'pending' AND blockers = 0 AND attempts > 0;

-- Leases, so expired ones (dead nodes) are found without a scan.
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'claimed';

-- Listing finished jobs (dead letters, purge). Unfinished states stay out on purpose:
-- an index on (state, id) for pending jobs tempts the planner into claiming through
-- it, walking every blocked job in id order; claims must use the head-only indexes.
CREATE INDEX jobs_finished ON jobs (state, id) WHERE state IN ('delivered', 'skipped', 'dead');

-- Age of the oldest unfinished event, for status.
CREATE INDEX jobs_unfinished_age ON jobs (received_at) WHERE state IN ('pending', 'claimed');

CREATE TABLE job_keys (
    key    text   NOT NULL,
    pos    bigint NOT NULL,
    job_id bigint NOT NULL,
    PRIMARY KEY (key, pos)
);

-- One row per ordering key: the lock that serialises the transactions changing that
-- key's line. Row locks live in the rows, not in the shared lock table, so a batch of
-- thousands of users takes thousands of them safely (advisory locks would not).
-- Rows of empty lines are deleted by purge_finished; a row is only ever a lock.
CREATE TABLE lines (
    key text PRIMARY KEY
);

CREATE TABLE job_attempts (
    job_id  bigint NOT NULL,
    seq     bigint GENERATED ALWAYS AS IDENTITY,
    attempt json   NOT NULL,                        -- Attempt as JSON
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE seen_messages (
    write_key  text             NOT NULL,
    message_id text             NOT NULL,
    seen_at    double precision NOT NULL,
    PRIMARY KEY (write_key, message_id)
);

CREATE INDEX seen_messages_age ON seen_messages (seen_at);

CREATE TABLE rejections (
    id          bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    write_key   text             NOT NULL,
    message_id  text,
    raw         text             NOT NULL,
    reason      text             NOT NULL,
    received_at double precision NOT NULL
);

CREATE INDEX rejections_age ON rejections (received_at);

-- Counters kept exact in the same transactions as the rows they count. Each name is
-- spread over shards (a statement picks one at random) so that claims and finishes
-- on many connections do not queue up behind one counter row; a count is the sum.
CREATE TABLE job_counts (
    name  text    NOT NULL,
    shard integer NOT NULL,
    n     bigint  NOT NULL,
    PRIMARY KEY (name, shard)
);

-- Shared control state (pause), one row per setting.
CREATE TABLE control (
    name  text PRIMARY KEY,
    value text
);

CREATE TABLE memory_email (
    user_key   text             PRIMARY KEY,
    email      text             NOT NULL,
    updated_at double precision NOT NULL
);

CREATE TABLE memory_cart (
    user_id   text             PRIMARY KEY,
    items     json             NOT NULL,
    posted_at double precision NOT NULL
);

CREATE TABLE memory_merge (
    anonymous_id text             NOT NULL,
    user_id      text             NOT NULL,
    merged_at    double precision NOT NULL,
    PRIMARY KEY (anonymous_id, user_id)
);

-- Global rate limiting (sailbridge.delivery.shared_ratelimit): per route, the next
-- free slot and the time until which Sailthru closed it, both on the database clock.
CREATE TABLE rate_limits (
    route         text             PRIMARY KEY,
    next_slot     double precision NOT NULL DEFAULT 0,
    blocked_until double precision NOT NULL DEFAULT 0
);
