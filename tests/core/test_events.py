"""Event decoding, validation and Segment's timestamp correction."""

from datetime import UTC, datetime

import pytest

from sailbridge.events import (
    Event,
    EventType,
    InvalidEvent,
    event_from_dict,
    shape_problem,
    with_timestamp,
)
from sailbridge.store.base import JobState, ListState, list_state

RECEIVED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_numeric_ids_become_strings_like_segments_sdks() -> None:
    event = event_from_dict({"type": "identify", "userId": 42})
    assert event.user_id == "42"


def test_user_key_prefers_user_id_over_anonymous_id() -> None:
    event = event_from_dict({"type": "track", "event": "x", "userId": "u", "anonymousId": "a"})
    assert event.user_key == "u"


@pytest.mark.parametrize(
    "raw, reason",
    [
        ({"type": "identify"}, "needs a userId or an anonymousId"),
        ({"type": "track", "userId": "u"}, "track needs an event name"),
        ({"type": "alias", "userId": "u"}, "alias needs a previousId"),
        ({"type": "teleport", "userId": "u"}, "unknown event type 'teleport'"),
        (
            {"type": "track", "userId": "u", "event": "x", "properties": [1]},
            "properties must be an object",
        ),
        ({"type": "track", "userId": {"id": 1}, "event": "x"}, "userId must be a string"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_invalid_events_say_why(raw: object, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        event_from_dict(raw)


def test_given_timestamp_is_kept() -> None:
    event = event_from_dict(
        {"type": "identify", "userId": "u", "timestamp": "2025-05-05T05:05:05.000Z"}
    )
    assert with_timestamp(event, RECEIVED).timestamp == "2025-05-05T05:05:05.000Z"


def test_missing_timestamp_is_corrected_for_device_clock_skew() -> None:
    event = event_from_dict(
        {
            "type": "identify",
            "userId": "u",
            "originalTimestamp": "2026-01-01T10:00:00Z",
            "sentAt": "2026-01-01T10:00:05Z",
        }
    )
    fixed = with_timestamp(event, RECEIVED)
    assert fixed.timestamp == "2026-01-01T11:59:55.000Z"
    assert fixed.received_at == "2026-01-01T12:00:00.000Z"


def test_no_device_time_at_all_uses_receive_time() -> None:
    event = event_from_dict({"type": "identify", "userId": "u"})
    assert with_timestamp(event, RECEIVED).timestamp == "2026-01-01T12:00:00.000Z"


def test_unparseable_time_is_invalid() -> None:
    event = event_from_dict(
        {"type": "identify", "userId": "u", "originalTimestamp": "yesterday", "sentAt": "today"}
    )
    with pytest.raises(InvalidEvent, match="not an ISO-8601 timestamp"):
        with_timestamp(event, RECEIVED)


@pytest.mark.parametrize(
    ("fields", "kind", "problem"),
    [
        ({"user_id": "u", "event": "Signed Up"}, "track", None),
        ({"anonymous_id": "a", "event": "Signed Up"}, "track", None),
        ({"user_id": "u", "event": "  "}, "track", "track needs an event name"),
        (
            {"user_id": " ", "anonymous_id": "", "event": "E"},
            "track",
            "track needs a userId or an anonymousId",
        ),
        ({"user_id": "u"}, "identify", None),
        ({"user_id": "u", "previous_id": "p"}, "alias", None),
        ({"user_id": "u", "previous_id": "\t"}, "alias", "alias needs a previousId"),
        ({"anonymous_id": "a", "previous_id": "p"}, "alias", "alias needs a userId"),
    ],
)
def test_shape_problem_says_what_each_type_lacks(
    fields: dict[str, str], kind: str, problem: str | None
) -> None:
    assert shape_problem(Event(type=EventType(kind), **fields), kind) == problem


def test_shape_problem_clears_blank_ids_in_place() -> None:
    event = Event(type=EventType.GROUP, user_id="u", anonymous_id=" ", group_id="", message_id="  ")

    assert shape_problem(event, event.type) is None
    assert (event.anonymous_id, event.group_id, event.message_id) == (None, None, None)


@pytest.mark.parametrize(
    ("state", "attempts", "shown"),
    [
        (JobState.PENDING, 0, ListState.PENDING),
        (JobState.PENDING, 2, ListState.RETRYING),
        (JobState.CLAIMED, 1, ListState.IN_FLIGHT),
        (JobState.DELIVERED, 1, ListState.DELIVERED),
        (JobState.SKIPPED, 0, ListState.SKIPPED),
        (JobState.DEAD, 5, ListState.DEAD),
    ],
)
def test_list_state_is_the_one_mapping_to_what_people_see(
    state: JobState, attempts: int, shown: ListState
) -> None:
    assert list_state(state, attempts) is shown
