-- sailbridge PostgreSQL schema, version 4: the Job API files of `sailbridge backfill`.
--
-- One row per file, keyed by the SHA-256 of its job type, job-level parameters and
-- bytes, so a resumed backfill recognises a file it uploaded before. No credentials.

CREATE TABLE backfill_files (
    content_hash text             PRIMARY KEY,
    kind         text             NOT NULL,   -- update | purchase_import
    name         text             NOT NULL,   -- the file name as written
    size         bigint           NOT NULL,   -- bytes
    lines        bigint           NOT NULL,
    state        text             NOT NULL,   -- uploading | pending | completed | error
    job_id       text,                        -- Sailthru's job id once it answered
    message      text,                        -- why it failed, Sailthru's words
    updated_at   double precision NOT NULL
);
