"""``/healthz`` and ``/metrics``: store liveness, ingest counters, queue gauges."""

from __future__ import annotations

import pytest
import requests

from sailbridge.sailthru.errors import RateLimitInfo
from sailbridge.status import Limits
from sailbridge.store.base import NewJob, StatusCounts

from .conftest import Serve
from .live import WRITE_KEY, LiveServer, basic_auth, metric_value
from .stores import Delegating


class BrokenCountsStore(Delegating):
    async def counts(self, account: str | None = None) -> StatusCounts:
        raise OSError("disk I/O error")

    async def check_writable(self, now: float) -> None:
        raise OSError("disk I/O error")


def scrape(server: LiveServer) -> str:
    response = requests.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_healthz_is_ok_when_the_store_answers(server: LiveServer) -> None:
    response = requests.get(f"{server.url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_healthz_is_503_when_the_store_does_not_answer(serve: Serve) -> None:
    server = serve(wrap_store=BrokenCountsStore)
    response = requests.get(f"{server.url}/healthz", timeout=10)
    assert response.status_code == 503
    assert response.json()["ok"] is False
    assert "disk I/O error" in response.json()["message"]


def test_metrics_count_received_rejected_and_deduplicated_events(server: LiveServer) -> None:
    batch = [
        {"type": "track", "userId": "u1", "event": "E", "messageId": "m1"},
        {"type": "track", "userId": "u1", "event": "E", "messageId": "m1"},
        {"type": "identify", "userId": "u1"},
        {"type": "track", "userId": "u1"},
    ]
    requests.post(
        f"{server.url}/v1/batch", json={"batch": batch}, headers=basic_auth(WRITE_KEY), timeout=10
    )
    text = scrape(server)
    assert metric_value(text, "sailbridge_events_received_total", type="track") == 2
    assert metric_value(text, "sailbridge_events_received_total", type="identify") == 1
    assert metric_value(text, "sailbridge_events_rejected_total", reason="invalid_event") == 1
    assert metric_value(text, "sailbridge_events_deduplicated_total") == 1
    assert (
        metric_value(text, "sailbridge_ingest_requests_total", route="/v1/batch", status="200") == 1
    )


def test_metrics_refresh_queue_depth_from_the_store(server: LiveServer) -> None:
    batch = [{"type": "track", "userId": f"u{n}", "event": "E"} for n in range(3)]
    requests.post(
        f"{server.url}/v1/batch", json={"batch": batch}, headers=basic_auth(WRITE_KEY), timeout=10
    )
    text = scrape(server)
    assert metric_value(text, "sailbridge_queue_jobs", state="pending") == 3
    assert metric_value(text, "sailbridge_queue_oldest_pending_age_seconds") >= 0
    assert metric_value(text, "sailbridge_store_up") == 1


def test_metrics_still_answer_when_the_store_does_not(serve: Serve) -> None:
    server = serve(wrap_store=BrokenCountsStore)
    assert metric_value(scrape(server), "sailbridge_store_up") == 0


def test_refused_requests_are_counted_by_status(server: LiveServer) -> None:
    requests.post(f"{server.url}/v1/track", data=b"{", headers=basic_auth(WRITE_KEY), timeout=10)
    requests.post(f"{server.url}/v1/track", json={}, headers=basic_auth("nope"), timeout=10)
    text = scrape(server)
    assert (
        metric_value(text, "sailbridge_ingest_requests_total", route="/v1/track", status="400") == 1
    )
    assert (
        metric_value(text, "sailbridge_ingest_requests_total", route="/v1/track", status="401") == 1
    )


class FixedCountsStore(Delegating):
    """The real store, but status answers with fixed counts."""

    async def counts(self, account: str | None = None) -> StatusCounts:
        return StatusCounts(7, 0, 0, 0, 0, 0, 0, None, None, deduplicated=5, inbox=3)


def test_duplicates_and_unsorted_events_are_the_stores_counts(serve: Serve) -> None:
    server = serve(wrap_store=FixedCountsStore)
    text = scrape(server)
    assert metric_value(text, "sailbridge_events_deduplicated_total") == 5
    assert metric_value(text, "sailbridge_queue_inbox_events") == 3
    assert metric_value(text, "sailbridge_queue_jobs", state="pending") == 7


def test_metrics_give_the_backlogs_drain_time_per_route_and_in_all(server: LiveServer) -> None:
    batch = [
        *({"type": "track", "userId": f"u{n}", "event": "E"} for n in range(4)),
        *({"type": "identify", "userId": f"u{n}"} for n in range(6)),
    ]
    requests.post(
        f"{server.url}/v1/batch", json={"batch": batch}, headers=basic_auth(WRITE_KEY), timeout=10
    )
    text = scrape(server)

    # Nothing answered yet, so the configured limits: 40/s and 300/s.
    def drain(route: str) -> float:
        return metric_value(
            text, "sailbridge_backlog_drain_seconds", account="default", route=route
        )

    assert drain("POST /event") == pytest.approx(4 / 40)
    assert drain("POST /user") == pytest.approx(6 / 300)
    assert drain("all") == pytest.approx(4 / 40 + 6 / 300)


def test_each_accounts_drain_time_is_at_its_own_limits(server: LiveServer) -> None:
    server.metrics.limits = Limits(
        {"brand-a": {"POST /event": 10.0}, "brand-b": {"POST /event": 50.0}},
        server.metrics.route_usage.reported_limits,
    )
    events = [
        NewJob(
            "wk",
            f"m{n}",
            {"type": "track", "event": "E"},
            "track",
            f"u{n}",
            (f"u{n}",),
            900.0,
            accounts,
        )
        for n, accounts in enumerate([("brand-a", "brand-b")] * 20 + [("brand-b",)] * 30)
    ]
    server.call(lambda: server.store.enqueue(events, [], 0.0, 1_000.0))
    # Sailthru told brand-b its limit is 600 a minute (10/s): that, not the 50/s configured.
    server.metrics.route_usage.record(
        "brand-b POST /event", 200, RateLimitInfo(600, 500, 2_000_000_000)
    )
    text = scrape(server)

    def drain(account: str, route: str) -> float:
        return metric_value(text, "sailbridge_backlog_drain_seconds", account=account, route=route)

    assert drain("brand-a", "POST /event") == pytest.approx(20 / 10)
    assert drain("brand-b", "POST /event") == pytest.approx(50 / 10)
    assert drain("brand-a", "all") == pytest.approx(20 / 10)
    assert drain("brand-b", "all") == pytest.approx(50 / 10)
    assert metric_value(text, "sailbridge_queue_jobs", state="pending") == 70
