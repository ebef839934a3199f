-- The shared rate limiter's statements (sailbridge.store.postgres.ratelimit, for
-- sailbridge.delivery.shared_ratelimit), beside the code that runs them. The
-- `rate_limits` table is part of the store's schema
-- (store/migrations/postgres/0001_initial.sql), so one migration brings up both.

-- name: take_slots
-- The route's next `n` slots on the database clock, `interval` apart: the first at once
-- if free, else after the slots already given out and after any block; the slots after
-- them are reserved in the same statement. Every node shares the row, so together they
-- keep the configured rate; a node takes slots for all its waiting calls at once, so
-- the row is written once per group of calls, not once per call. Returns the first
-- slot and the database's now. Committed without a disk flush: a database crash could
-- at worst forget the last reservations and let calls go early once, where a durable
-- write would make every call wait for the disk while holding the row.
INSERT INTO rate_limits AS r (route, next_slot, blocked_until)
VALUES (%(route)s::text,
        extract(epoch FROM clock_timestamp())::float8 + %(interval)s::float8 * %(n)s::integer,
        0)
ON CONFLICT (route) DO UPDATE
SET next_slot = greatest(r.next_slot, extract(epoch FROM clock_timestamp())::float8,
                         r.blocked_until) + %(interval)s::float8 * %(n)s::integer
WHERE set_config('synchronous_commit', 'off', true) IS NOT NULL
RETURNING r.next_slot - %(interval)s::float8 * %(n)s::integer,
          extract(epoch FROM clock_timestamp())::float8;

-- name: block_route
-- Close the route until `until` (an epoch second from Sailthru), for a short pause when
-- it is unknown, a very short one when already past, and never longer than `max_block`
-- seconds (as `block_target` in Python); a longer block already in force stays.
INSERT INTO rate_limits AS r (route, next_slot, blocked_until)
SELECT %(route)s::text, 0,
       least(CASE WHEN coalesce(%(until)s::float8, 0) = 0 THEN now_ + %(default_block)s::float8
                  WHEN %(until)s::float8 > now_ THEN %(until)s::float8
                  ELSE now_ + %(past_block)s::float8 END,
             now_ + %(max_block)s::float8)
FROM (SELECT extract(epoch FROM clock_timestamp())::float8 AS now_) AS clock
ON CONFLICT (route) DO UPDATE SET blocked_until = greatest(r.blocked_until, excluded.blocked_until);

-- name: route_block
SELECT blocked_until, extract(epoch FROM clock_timestamp())::float8
FROM rate_limits WHERE route = %(route)s::text;
