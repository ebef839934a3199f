"""SPEC §13: how long the queued events need at Sailthru's limits, route by route."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailbridge.drain import PAGEVIEW_ROUTE, calls_waiting, estimate_drain, reported_in, route_of
from sailbridge.sailthru.errors import RateLimitInfo
from sailbridge.settings.rate_limits import DEFAULT_RATE_LIMITS
from sailbridge.status import AccountBacklog, StatusReading, status_json
from sailbridge.store.base import StatusCounts


@pytest.mark.parametrize(
    ("event_type", "name", "route"),
    [
        ("identify", None, "POST /user"),
        ("alias", None, "POST /user"),
        ("track", "Order Completed", "POST /purchase"),
        ("track", "product_added", "POST /purchase"),
        ("track", "ProductRemoved", "POST /purchase"),
        ("track", "User Deleted", "DELETE /user"),
        ("track", "Subscribed", "POST /user"),
        ("track", "Signed Up", "POST /event"),
        ("track", None, "POST /event"),
        ("page", None, PAGEVIEW_ROUTE),
        ("screen", None, PAGEVIEW_ROUTE),
        ("group", None, None),
    ],
)
def test_each_event_is_counted_on_the_route_of_the_call_that_delivers_it(
    event_type: str, name: str | None, route: str | None
) -> None:
    assert route_of(event_type, name) == route


def test_calls_waiting_add_up_per_route_and_scale_a_sample_to_the_queue() -> None:
    kinds = {
        ("identify", None): 30,
        ("track", "Product Added"): 10,
        ("track", "Order Completed"): 5,
        ("group", None): 7,
    }
    assert calls_waiting(kinds) == {"POST /purchase": 15, "POST /user": 30}
    assert calls_waiting(kinds, scale=10.0) == {"POST /purchase": 150, "POST /user": 300}


def test_each_route_drains_at_its_configured_limit_without_sailthru_headers() -> None:
    estimate = estimate_drain({"POST /user": 3000, "POST /purchase": 400}, DEFAULT_RATE_LIMITS)
    by_route = {route.route: route for route in estimate.routes}
    assert by_route["POST /user"].seconds == pytest.approx(10.0)
    assert by_route["POST /purchase"].seconds == pytest.approx(10.0)
    assert {route.limit_from for route in estimate.routes} == {"configured"}
    assert estimate.total_seconds == pytest.approx(20.0)
    assert estimate.total_calls == 3400


def test_the_limit_sailthru_reports_wins_over_the_configured_one() -> None:
    reported = {"POST /purchase": RateLimitInfo(limit=1200, remaining=0, reset=0)}
    (route,) = estimate_drain({"POST /purchase": 400}, DEFAULT_RATE_LIMITS, reported).routes
    assert (route.limit, route.limit_from) == (20.0, "sailthru")
    assert route.seconds == pytest.approx(20.0)


def test_a_route_not_configured_drains_at_sailthrus_default_for_other_posts() -> None:
    (route,) = estimate_drain({"POST /return": 80}, {}).routes
    assert route.limit == 40.0 and route.seconds == pytest.approx(2.0)


def test_an_empty_queue_drains_in_no_time() -> None:
    estimate = estimate_drain({"POST /user": 0}, DEFAULT_RATE_LIMITS)
    assert estimate.routes == () and estimate.total_seconds == 0


@given(st.dictionaries(st.sampled_from(sorted(DEFAULT_RATE_LIMITS)), st.integers(0, 10**7)))
def test_the_total_is_the_sum_of_every_routes_calls_over_its_limit(waiting: dict[str, int]) -> None:
    estimate = estimate_drain(waiting, DEFAULT_RATE_LIMITS)
    expected = sum(calls / DEFAULT_RATE_LIMITS[route] for route, calls in waiting.items())
    assert estimate.total_seconds == pytest.approx(expected)
    assert all(route.seconds >= 0 for route in estimate.routes)


def test_each_account_reads_only_its_own_reported_limits() -> None:
    info_a, info_b = RateLimitInfo(600, 10, 0), RateLimitInfo(120, 10, 0)
    reported = {"POST /event": info_a, "brand-b POST /event": info_b, "brand-b POST /user": None}

    assert reported_in("default", reported) == {"POST /event": info_a}
    assert reported_in("brand-b", reported) == {"POST /event": info_b, "POST /user": None}
    assert reported_in("brand-c", reported) == {}


def backlog(account: str, calls: int, limit: float) -> AccountBacklog:
    counts = StatusCounts(calls, 0, 0, 0, 0, 0, 0, None, None)
    return AccountBacklog(
        account, counts, estimate_drain({"POST /event": calls}, {"POST /event": limit})
    )


def test_the_stores_drain_time_is_its_slowest_accounts() -> None:
    whole = StatusCounts(150, 0, 0, 0, 0, 1, 0, None, None, deduplicated=2)
    reading = StatusReading(whole, {}, (backlog("a", 100, 10.0), backlog("b", 50, 1.0)), None)

    view = status_json(reading, now=1_000.0)

    assert reading.drain_seconds == 50.0
    assert view["drain"]["total_seconds"] == 50.0
    assert [(r["account"], r["seconds"]) for r in view["drain"]["routes"]] == [
        ("a", 10.0),
        ("b", 50.0),
    ]
    assert view["accounts"]["a"]["drain"]["total_seconds"] == 10.0
    assert view["accounts"]["b"]["pending"] == 50
    assert "deduplicated" not in view["accounts"]["b"] and view["deduplicated"] == 2


def test_one_account_shown_is_the_drain_as_before() -> None:
    reading = StatusReading(
        StatusCounts(100, 0, 0, 0, 0, 0, 0, None, None), {}, (backlog("a", 100, 10.0),), "a"
    )

    view = status_json(reading, now=1_000.0)

    assert "accounts" not in view
    assert view["drain"] == {
        "total_seconds": 10.0,
        "routes": [
            {
                "route": "POST /event",
                "calls": 100,
                "limit_per_second": 10.0,
                "limit_from": "configured",
                "seconds": 10.0,
            }
        ],
    }
