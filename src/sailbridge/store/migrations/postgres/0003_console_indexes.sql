-- sailbridge PostgreSQL schema, version 3: indexes for the console's listings (issue 9).
--
-- Each listing reads a page from one index, newest first (see Store.find_jobs):
-- jobs_finished serves delivered, skipped and dead; pending jobs are read through the
-- primary key (they are most of an unfinished queue) or jobs_unfinished_age, claimed
-- ones through jobs_leased. No index on pending jobs by id on purpose (see version 1:
-- claims must use the head-only indexes).

-- A user's jobs in every state: the timeline, and the user filter.
CREATE INDEX jobs_by_user ON jobs (user_key, id);

-- Jobs waiting to retry, in arrival order (jobs_ready_retry holds only line heads).
CREATE INDEX jobs_retrying ON jobs (id) WHERE state = 'pending' AND attempts > 0;

-- When jobs ended, for delivered/dead per minute; finishes append at its right edge.
CREATE INDEX jobs_finished_at ON jobs (state, updated_at) WHERE state IN ('delivered', 'dead');
