"""Overload and store trouble: 429/503 with Retry-After, which Segment's SDKs retry."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import requests

from sailbridge.store.base import NewJob

from .conftest import Serve
from .live import WRITE_KEY, basic_auth
from .stores import LockedStore, WatchedWrites

BODY = {"batch": [{"type": "track", "userId": "u1", "event": "E"}]}


class GatedStore(WatchedWrites):
    """A store whose writes wait until the test opens the gate."""

    gate = threading.Event()
    entered = threading.Event()

    async def before_write(self, jobs: Sequence[NewJob]) -> None:
        self.entered.set()
        while not self.gate.is_set():
            await asyncio.sleep(0.01)


def post(url: str) -> requests.Response:
    return requests.post(f"{url}/v1/batch", json=BODY, headers=basic_auth(WRITE_KEY), timeout=10)


def test_no_room_to_wait_on_the_store_is_a_429_with_retry_after(serve: Serve) -> None:
    server = serve(max_inflight=0, overload_retry_after=2)
    response = post(server.url)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["code"] == "overloaded"
    assert server.jobs() == []


def test_requests_beyond_those_waiting_on_a_slow_store_get_429(serve: Serve) -> None:
    GatedStore.gate.clear()
    GatedStore.entered.clear()
    server = serve(wrap_store=GatedStore, max_inflight=1)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, server.url)
        assert GatedStore.entered.wait(5)
        second = post(server.url)
        GatedStore.gate.set()
        assert first.result(10).status_code == 200
    assert second.status_code == 429
    assert "Retry-After" in second.headers
    assert len(server.jobs()) == 1


def test_a_failing_store_is_a_503_with_retry_after(serve: Serve) -> None:
    server = serve(wrap_store=LockedStore, unavailable_retry_after=7)
    response = post(server.url)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.json()["code"] == "store_unavailable"


def test_success_is_answered_only_after_the_store_committed(serve: Serve) -> None:
    GatedStore.gate.clear()
    GatedStore.entered.clear()
    server = serve(wrap_store=GatedStore)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(post, server.url)
        assert GatedStore.entered.wait(5)
        time.sleep(0.2)
        assert not pending.done()
        GatedStore.gate.set()
        assert pending.result(10).status_code == 200
