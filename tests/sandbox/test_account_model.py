"""The in-memory account, without HTTP: cart versions, merges and profile creation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailbridge.sandbox.account import Account
from sailbridge.sandbox.errors import ApiError
from sailbridge.sandbox.ratelimit import FixedWindowRateLimiter


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def cart(item_id: str) -> dict[str, Any]:
    return {
        "email": "ann@example.com",
        "incomplete": 1,
        "items": [{"id": item_id, "title": "t", "qty": 1, "price": 100, "url": "https://x"}],
    }


@given(
    st.lists(st.floats(min_value=0.01, max_value=10.0), min_size=1, max_size=8),
    st.floats(min_value=0.0, max_value=30.0),
)
def test_a_lagged_read_sees_the_last_cart_posted_before_now_minus_lag(
    gaps: list[float], lag: float
) -> None:
    clock = FakeClock()
    account = Account(clock=clock)
    posted: list[tuple[float, str]] = []
    for index, gap in enumerate(gaps):
        clock.now += gap
        account.post_purchase(cart(f"v{index}"), templates=frozenset())
        posted.append((clock.now, f"v{index}"))
    clock.now += 0.5

    seen = account.get_user(
        {"id": "ann@example.com", "fields": {"purchase_incomplete": 1}}, cart_read_lag=lag
    )["purchase_incomplete"]

    visible = [name for at, name in posted if at <= clock.now - lag]
    expected = visible[-1] if visible else None
    assert (seen["items"][0]["id"] if seen else None) == expected


def test_post_user_without_id_creates_a_new_profile() -> None:
    account = Account(clock=FakeClock())

    answer = account.post_user({"keys": {"email": "new@example.com"}})

    assert answer["keys"]["email"] == "new@example.com"
    assert account.find("sid", answer["keys"]["sid"]) is not None


def test_post_user_by_unknown_sid_is_not_found() -> None:
    account = Account(clock=FakeClock())

    with pytest.raises(ApiError, match="User not found with sid: abc"):
        account.post_user({"id": "abc", "vars": {"a": 1}})


def test_merge_into_a_profile_that_does_not_exist_yet_keeps_the_known_one() -> None:
    account = Account(clock=FakeClock())
    account.post_user({"id": "known", "key": "extid", "vars": {"plan": "pro"}})

    account.post_user(
        {
            "id": "anon",
            "key": "extid",
            "keys": {"extid": "known"},
            "keysconflict": "merge",
            "vars": {"seen": 1},
        }
    )

    [profile] = account.profiles()
    assert profile.extid == "known"
    assert profile.vars == {"plan": "pro", "seen": 1}


def test_emails_are_matched_ignoring_case() -> None:
    account = Account(clock=FakeClock())
    account.post_user({"id": "u-1", "key": "extid", "keys": {"email": "Ann@Example.com"}})

    assert account.find("email", "ANN@example.COM") is account.find("extid", "u-1")


def test_a_refused_call_changes_nothing() -> None:
    account = Account(clock=FakeClock())
    account.post_user({"id": "u-1", "key": "extid", "vars": {"a": 1}})

    with pytest.raises(ApiError):
        account.post_user({"id": "u-1", "key": "extid", "vars": {"a": 2}, "lists": {"X": 5}})

    assert account.find("extid", "u-1").vars == {"a": 1}


@given(st.integers(min_value=0, max_value=20), st.integers(min_value=0, max_value=40))
def test_a_window_allows_exactly_its_limit(limit: int, hits: int) -> None:
    limiter = FixedWindowRateLimiter(clock=lambda: 60.0)

    statuses = [limiter.hit("POST /user", limit, 60.0) for _ in range(hits)]

    assert sum(status.allowed for status in statuses) == min(limit, hits)
    assert all(status.remaining >= 0 and status.reset == 120 for status in statuses)
