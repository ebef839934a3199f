"""`claim_limits`: how one worker's slots are shared between accounts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sailbridge.delivery.fairness import claim_limits, fair_share


def test_one_account_may_use_every_slot() -> None:
    assert claim_limits(32, 32, ["default"], {}) == [("default", 32)]


def test_two_accounts_share_the_slots_evenly() -> None:
    assert claim_limits(32, 32, ["a", "b"], {}) == [("a", 16), ("b", 16)]


def test_an_account_holding_its_share_gets_no_more() -> None:
    # "a" is stuck (a 429 storm): its 16 slots wait, "b" still gets its own.
    assert claim_limits(16, 32, ["a", "b"], {"a": 16}) == [("b", 16)]


def test_free_slots_bound_every_claim() -> None:
    assert claim_limits(5, 32, ["a", "b"], {"a": 10, "b": 17}) == [("a", 5)]


def test_the_start_rotates_who_claims_first() -> None:
    assert claim_limits(4, 4, ["a", "b"], {}, start=1) == [("b", 2), ("a", 2)]


def test_nothing_to_claim_without_accounts_or_free_slots() -> None:
    assert claim_limits(0, 32, ["a"], {}) == []
    assert claim_limits(8, 32, [], {}) == []


def test_a_share_is_at_least_one_slot() -> None:
    assert fair_share(2, 5) == 1


@given(
    free=st.integers(0, 64),
    concurrency=st.integers(1, 64),
    accounts=st.lists(st.sampled_from("abcdef"), unique=True, max_size=6),
    busy=st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 64)),
    start=st.integers(0, 10),
)
def test_limits_respect_free_slots_and_shares(
    free: int, concurrency: int, accounts: list[str], busy: dict[str, int], start: int
) -> None:
    limits = claim_limits(free, concurrency, accounts, busy, start)
    share = fair_share(concurrency, len(accounts))
    assert sum(limit for _account, limit in limits) <= max(free, 0)
    assert all(limit > 0 and busy.get(account, 0) + limit <= share for account, limit in limits)
    assert len({account for account, _limit in limits}) == len(limits)
