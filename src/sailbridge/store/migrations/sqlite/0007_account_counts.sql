-- sailbridge SQLite schema, version 7: status per account.
--
-- Each account's jobs are counted apart (sailbridge.store.accounts.count_name): the
-- counters of 'default' keep their names, another account's carry its name. The jobs
-- of other accounts stored so far move from the plain counters to their own; delivered
-- and skipped jobs already purged cannot be told apart and stay with 'default'.

CREATE TEMP TABLE account_states AS
SELECT account,
       CASE WHEN state = 'pending' AND attempts > 0 THEN 'retrying' ELSE state END AS name,
       count(*) AS n
FROM jobs WHERE account <> 'default'
GROUP BY 1, 2;

INSERT INTO job_counts (name, n)
SELECT account || char(31) || name, n FROM account_states;

UPDATE job_counts
SET n = n - (SELECT coalesce(sum(s.n), 0) FROM account_states AS s
             WHERE s.name = job_counts.name)
WHERE name IN ('pending', 'retrying', 'claimed', 'delivered', 'skipped', 'dead');

DROP TABLE account_states;

-- One account's oldest unfinished jobs, for its age and its drain time's sample.
CREATE INDEX jobs_unfinished_age_in_account ON jobs (account, received_at)
    WHERE state IN ('pending', 'claimed');
