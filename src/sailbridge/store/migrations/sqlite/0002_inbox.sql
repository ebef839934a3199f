-- sailbridge SQLite schema, version 2: the ingest inbox.
--
-- Ingest's `accept` appends each request's events here as ONE row (the encoded batch),
-- so acknowledging a request dirties a few sequential pages instead of a random page
-- per event in the dedupe and line indexes. The writer then sorts rows into `jobs` in
-- id order, deleting each row in the transaction that sorts it: after a crash, the
-- rows left here are sorted when the store opens again.

CREATE TABLE inbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order, never reused
    events        INTEGER NOT NULL,                   -- number of jobs in `jobs`
    jobs          BLOB    NOT NULL,                   -- JSON array of NewJob (array-like)
    dedupe_window REAL    NOT NULL,
    accepted_at   REAL    NOT NULL,                   -- the `now` of the accept call
    received_at   REAL    NOT NULL                    -- earliest received_at of its jobs
);

-- 'inbox': events waiting in the inbox (status shows them as pending);
-- 'deduplicated': lifetime total of events dropped as duplicates.
INSERT INTO job_counts (name, n) VALUES ('inbox', 0), ('deduplicated', 0);

-- The oldest inbox row may be sorted in pieces (a row can hold thousands of events,
-- a sort step takes a few hundred): how many of its jobs are in the queue already.
-- It is deleted with its last piece; `row` is 0 when no row is partly sorted.
CREATE TABLE inbox_head (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    row    INTEGER NOT NULL,
    sorted INTEGER NOT NULL
);

INSERT INTO inbox_head (id, row, sorted) VALUES (1, 0, 0);
