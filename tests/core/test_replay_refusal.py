"""The one rule the CLI's ``dlq replay`` and the admin API's ``/dlq/replay`` share: a
replay names what to replay (ids, a reason, or all), never everything by omission."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sailbridge.operations import ReplayRefusal, replay_refusal

NOTHING = ReplayRefusal.NOTHING_NAMED
MIXED = ReplayRefusal.IDS_WITH_FILTER

# ids named, reason named, all, ids exclusive -> refusal: every combination, spelled out.
TRUTH_TABLE = [
    (False, False, False, False, NOTHING),
    (False, False, False, True, NOTHING),
    (False, False, True, False, None),
    (False, False, True, True, None),
    (False, True, False, False, None),
    (False, True, False, True, None),
    (False, True, True, False, None),
    (False, True, True, True, None),
    (True, False, False, False, None),
    (True, False, False, True, None),
    (True, False, True, False, None),
    (True, False, True, True, MIXED),
    (True, True, False, False, None),
    (True, True, False, True, MIXED),
    (True, True, True, False, None),
    (True, True, True, True, MIXED),
]


@pytest.mark.parametrize(("ids", "reason", "everything", "exclusive", "refusal"), TRUTH_TABLE)
def test_every_combination_of_what_a_replay_names(
    ids: bool, reason: bool, everything: bool, exclusive: bool, refusal: ReplayRefusal | None
) -> None:
    named_ids = [3, 5] if ids else None
    named_reason = "Unknown template" if reason else None
    assert replay_refusal(named_ids, named_reason, everything, ids_exclusive=exclusive) is refusal


def test_the_truth_table_is_exhaustive() -> None:
    assert len({row[:4] for row in TRUTH_TABLE}) == 2**4


@pytest.mark.parametrize("no_ids", [None, [], ()])
@pytest.mark.parametrize("exclusive", [False, True])
def test_no_ids_and_an_empty_list_both_name_nothing(
    no_ids: Sequence[int] | None, exclusive: bool
) -> None:
    assert replay_refusal(no_ids, None, False, ids_exclusive=exclusive) is NOTHING
    assert replay_refusal(no_ids, None, True, ids_exclusive=exclusive) is None


@pytest.mark.parametrize("exclusive", [False, True])
def test_an_empty_reason_counts_as_named(exclusive: bool) -> None:
    """Refusing empty text is `check_reason_filter`'s job, with its own message; here an
    empty ``--reason ""`` is a reason given, not "nothing named"."""
    assert replay_refusal(None, "", False, ids_exclusive=exclusive) is None
    assert replay_refusal([1], "", False, ids_exclusive=True) is MIXED


def test_one_id_is_enough() -> None:
    assert replay_refusal([1], None, False, ids_exclusive=True) is None
    assert replay_refusal([1], None, False, ids_exclusive=False) is None
