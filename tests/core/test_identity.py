"""`send`'s event identities: messageId, else content and position (issue 8)."""

from __future__ import annotations

from sailbridge.identity import content_digest, send_identities

ORDER = {
    "type": "track",
    "userId": "u",
    "event": "Order Completed",
    "properties": {"order_id": "o-1", "total": 5},
}


def test_an_event_with_a_message_id_is_identified_by_it() -> None:
    assert send_identities([(ORDER, "m-1")]) == ["message:m-1"]


def test_an_event_without_one_is_identified_by_its_content() -> None:
    [identity] = send_identities([(ORDER, None)])
    assert identity == f"content:{content_digest(ORDER)}:0"


def test_key_order_and_whitespace_do_not_change_the_identity() -> None:
    reordered = {
        "properties": {"total": 5, "order_id": "o-1"},
        "event": "Order Completed",
        "userId": "u",
        "type": "track",
    }
    assert send_identities([(reordered, None)]) == send_identities([(ORDER, None)])


def test_identical_events_in_a_file_are_told_apart_by_their_position() -> None:
    first, second = send_identities([(ORDER, None), (ORDER, None)])
    assert first.endswith(":0") and second.endswith(":1") and first[:-1] == second[:-1]


def test_other_events_around_them_do_not_change_identities() -> None:
    other = {"type": "identify", "userId": "u"}
    alone = send_identities([(ORDER, None), (ORDER, None)])
    mixed = send_identities([(other, None), (ORDER, None), (other, "m-9"), (ORDER, None)])
    assert [mixed[1], mixed[3]] == alone


def test_a_different_event_gets_a_different_identity() -> None:
    changed = {**ORDER, "properties": {"order_id": "o-2", "total": 5}}
    assert send_identities([(changed, None)]) != send_identities([(ORDER, None)])


def test_a_message_id_that_looks_like_a_digest_cannot_collide_with_one() -> None:
    [derived] = send_identities([(ORDER, None)])
    assert send_identities([(ORDER, derived)]) != [derived]
