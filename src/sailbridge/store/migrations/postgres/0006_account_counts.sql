-- sailbridge PostgreSQL schema, version 6: status per account.
--
-- Each account's jobs are counted apart (sailbridge.store.accounts.count_name, and
-- count_name below for the statements that count): the counters of 'default' keep
-- their names, another account's carry its name. The jobs of other accounts stored so
-- far move from the plain counters to their own; delivered and skipped jobs already
-- purged cannot be told apart and stay with 'default'.

CREATE OR REPLACE FUNCTION count_name(account text, name text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN account = 'default' THEN name ELSE account || chr(31) || name END;

CREATE TEMP TABLE account_states ON COMMIT DROP AS
SELECT account,
       CASE WHEN state = 'pending' AND attempts > 0 THEN 'retrying' ELSE state END AS name,
       count(*) AS n
FROM jobs WHERE account <> 'default'
GROUP BY 1, 2;

INSERT INTO job_counts AS c (name, shard, n)
SELECT count_name(account, name), 0, n FROM account_states
UNION ALL
SELECT name, 0, -sum(n) FROM account_states GROUP BY name
ORDER BY 1
ON CONFLICT (name, shard) DO UPDATE SET n = c.n + excluded.n;

CREATE INDEX jobs_unfinished_age_in_account ON jobs (account, received_at)
    WHERE state IN ('pending', 'claimed');
