"""Event decoding, validation and Segment's timestamp correction."""

from datetime import UTC, datetime

import pytest

from sailbridge.events import InvalidEvent, event_from_dict, with_timestamp

RECEIVED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_numeric_ids_become_strings_like_segments_sdks() -> None:
    event = event_from_dict({"type": "identify", "userId": 42})
    assert event.user_id == "42"


def test_user_key_prefers_user_id_over_anonymous_id() -> None:
    event = event_from_dict({"type": "track", "event": "x", "userId": "u", "anonymousId": "a"})
    assert event.user_key == "u"


@pytest.mark.parametrize("raw, reason", [
    ({"type": "identify"}, "needs a userId or an anonymousId"),
    ({"type": "track", "userId": "u"}, "track needs an event name"),
    ({"type": "alias", "userId": "u"}, "alias needs a previousId"),
    ({"type": "teleport", "userId": "u"}, "unknown event type 'teleport'"),
    ({"type": "track", "userId": "u", "event": "x", "properties": [1]}, "properties must be an object"),
    ({"type": "track", "userId": {"id": 1}, "event": "x"}, "userId must be a string"),
    ([1, 2], "must be a JSON object"),
])
def test_invalid_events_say_why(raw: object, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        event_from_dict(raw)


def test_given_timestamp_is_kept() -> None:
    event = event_from_dict({"type": "identify", "userId": "u",
                             "timestamp": "2025-05-05T05:05:05.000Z"})
    assert with_timestamp(event, RECEIVED).timestamp == "2025-05-05T05:05:05.000Z"


def test_missing_timestamp_is_corrected_for_device_clock_skew() -> None:
    event = event_from_dict({"type": "identify", "userId": "u",
                             "originalTimestamp": "2026-01-01T10:00:00Z",
                             "sentAt": "2026-01-01T10:00:05Z"})
    fixed = with_timestamp(event, RECEIVED)
    assert fixed.timestamp == "2026-01-01T11:59:55.000Z"
    assert fixed.received_at == "2026-01-01T12:00:00.000Z"


def test_no_device_time_at_all_uses_receive_time() -> None:
    event = event_from_dict({"type": "identify", "userId": "u"})
    assert with_timestamp(event, RECEIVED).timestamp == "2026-01-01T12:00:00.000Z"


def test_unparseable_time_is_invalid() -> None:
    event = event_from_dict({"type": "identify", "userId": "u",
                             "originalTimestamp": "yesterday", "sentAt": "today"})
    with pytest.raises(InvalidEvent, match="not an ISO-8601 timestamp"):
        with_timestamp(event, RECEIVED)
