-- sailbridge PostgreSQL schema, version 2: forgetting a person, and `send`'s identities.
--
-- forget_on_finish: the deletion job (User Deleted, `sailbridge forget`) of a user being
-- forgotten is still claimed when the deletion is applied; its own row and history go
-- when it is finished (in the same transaction). Only the job id is kept here.
CREATE TABLE forget_on_finish (
    job_id bigint PRIMARY KEY
);

-- Forgetting follows merges in both directions: find them by the known id too.
CREATE INDEX memory_merge_by_user ON memory_merge (user_id);

-- `sailbridge send` gives every event an identity (its messageId, else one derived from
-- its content and position) stored as the job's message_id under the write key
-- 'sailbridge-send'; a re-send looks its identities up here. Partial: ingest's jobs
-- (other write keys) never touch this index.
CREATE INDEX jobs_sent ON jobs (message_id) WHERE write_key = 'sailbridge-send';
