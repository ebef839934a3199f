-- sailbridge SQLite schema, version 5: the Job API files of `sailbridge backfill`.
--
-- One row per file, keyed by the SHA-256 of its job type, job-level parameters and
-- bytes, so a resumed backfill recognises a file it uploaded before. No credentials.

CREATE TABLE backfill_files (
    content_hash TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL,   -- update | purchase_import
    name         TEXT    NOT NULL,   -- the file name as written, for the summary
    size         INTEGER NOT NULL,   -- bytes
    lines        INTEGER NOT NULL,
    state        TEXT    NOT NULL,   -- uploading | pending | completed | error
    job_id       TEXT,               -- Sailthru's job id once it answered the upload
    message      TEXT,               -- why it failed, Sailthru's words
    updated_at   REAL    NOT NULL
) WITHOUT ROWID;
