"""The fast path stores exactly what the general path would, or leaves the event to it."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from sailbridge.intake import fastpath
from sailbridge.intake.rules import NO_SHARED, shared_fields
from sailbridge.intake.sorting import Arrival, Received, Sorted, Sorter
from sailbridge.store.base import NewJob

RECEIVED = 1_714_566_615.25
WRITE_KEY = "wk"


def general_path(raw: bytes, shared: dict[str, Any], kind: str | None) -> NewJob | None:
    """What the intake's general path makes of the event: its job, or ``None`` if rejected."""
    into = Sorted()
    rules = shared_fields(shared) if shared else NO_SHARED
    Sorter().sort_slow(raw, Arrival(WRITE_KEY, Received(RECEIVED), kind, rules), into)
    return into.jobs[0] if into.jobs else None


def fast_path(raw: bytes, shared: dict[str, Any], kind: str | None) -> NewJob | None:
    stamp = Received(RECEIVED)
    if kind is not None:
        single = fastpath.decode_single(raw)
        if single is None:
            return None
        return fastpath.to_single_job(single, Arrival(WRITE_KEY, stamp, kind))
    rules = shared_fields(shared)
    if rules.merges_objects:
        return None
    wire = fastpath.decode_wire(raw)
    if wire is None:
        return None
    return fastpath.to_job(wire, Arrival(WRITE_KEY, stamp, None, rules))


def assert_same_or_declined(event: Any, shared: dict[str, Any], kind: str | None) -> None:
    raw = msgspec.json.encode(event)
    fast = fast_path(raw, shared, kind)
    if fast is None:
        return
    general = general_path(raw, shared, kind)
    assert general is not None, f"the fast path took an event the general path rejects: {event}"
    assert isinstance(fast.event, msgspec.Raw)
    assert isinstance(general.event, msgspec.Raw)
    assert bytes(fast.event) == bytes(general.event)
    assert msgspec.structs.replace(fast, event=general.event) == general


SDK_EVENT = {
    "type": "track",
    "event": "Product Viewed",
    "userId": "user-1",
    "anonymousId": None,
    "messageId": "6f0d1b1e-1",
    "timestamp": "2024-05-01T12:30:15.250+00:00",
    "properties": {"product_id": "sku-1", "price": 19.99, "tags": ["a", "é"]},
    "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
    "integrations": {},
}


def test_an_sdk_event_takes_the_fast_path_and_is_stored_as_the_general_path_would() -> None:
    raw = msgspec.json.encode(SDK_EVENT)
    shared = {"sentAt": "2024-05-01T12:30:16.000+00:00"}

    fast = fast_path(raw, shared, None)

    assert fast is not None
    assert_same_or_declined(SDK_EVENT, shared, None)


def test_a_single_event_body_takes_the_fast_path_without_its_write_key() -> None:
    body = {**SDK_EVENT, "writeKey": "wk"}
    del body["type"]

    fast = fast_path(msgspec.json.encode(body), {}, "track")

    assert fast is not None
    assert "writeKey" not in msgspec.json.decode(fast.event)  # type: ignore[arg-type]
    assert_same_or_declined(body, {}, "track")


def test_events_the_general_path_must_judge_are_left_to_it() -> None:
    no_timestamp = {k: v for k, v in SDK_EVENT.items() if k != "timestamp"}
    empty_timestamp = {**SDK_EVENT, "timestamp": ""}
    numeric_id = {**SDK_EVENT, "userId": 42}
    unnamed = {**SDK_EVENT, "event": "  "}
    unknown_type = {**SDK_EVENT, "type": "teleport"}

    for event in (no_timestamp, empty_timestamp, numeric_id, unnamed, unknown_type):
        assert fast_path(msgspec.json.encode(event), {}, None) is None
    assert fast_path(msgspec.json.encode(SDK_EVENT), {"context": {"ip": "1.2.3.4"}}, None) is None
    assert fast_path(msgspec.json.encode(SDK_EVENT), {}, "identify") is None


def _text(*extra: str) -> st.SearchStrategy[str]:
    return st.sampled_from(["u1", "", "  ", "Ü\u00e9", "0", *extra]) | st.text(max_size=6)


_ids = st.none() | _text() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.booleans()
_times = (
    st.none()
    | st.sampled_from(
        [
            "2024-05-01T12:30:15.250Z",
            "2024-05-01T12:30:15+02:00",
            "",
            "yesterday",
            "2024-05-01",
        ]
    )
    | st.integers(0, 3)
)
_objects = (
    st.none()
    | st.dictionaries(
        st.sampled_from(["a", "b", "ip"]),
        st.none() | st.integers() | st.text(max_size=3),
        max_size=2,
    )
    | st.just([])
    | st.just("x")
)
_fields: dict[str, st.SearchStrategy[Any]] = {
    "type": st.none()
    | st.sampled_from(
        ["track", "Track", "IDENTIFY", "alias", "page", "screen", "group", "teleport", ""]
    )
    | st.integers(0, 2),
    "messageId": _ids,
    "userId": _ids,
    "anonymousId": _ids,
    "previousId": _ids,
    "groupId": _ids,
    "event": st.none() | _text("Signed Up") | st.integers(0, 1),
    "name": st.none() | _text("Home"),
    "properties": _objects,
    "traits": _objects,
    "context": _objects,
    "integrations": _objects,
    "timestamp": _times,
    "originalTimestamp": _times,
    "sentAt": _times,
    "receivedAt": _times,
    "writeKey": st.none() | st.just("wk") | st.integers(0, 1),
    "extra": st.integers(0, 1),
}


_VALID: dict[str, dict[str, Any]] = {
    "track": {"type": "track", "userId": "u1", "event": "Signed Up"},
    "identify": {"type": "identify", "userId": "u1", "anonymousId": "a1"},
    "alias": {"type": "alias", "userId": "u1", "previousId": "a1"},
    "page": {"type": "page", "anonymousId": "a1", "name": "Home"},
    "screen": {"type": "screen", "userId": "u1"},
    "group": {"type": "group", "userId": "u1", "groupId": "g1"},
}


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event of some type with a timestamp, then a few fields set or removed."""
    event = {
        **draw(st.sampled_from(list(_VALID.values()))),
        "timestamp": "2024-05-01T12:30:15.250Z",
    }
    for name in draw(st.sets(st.sampled_from(sorted(_fields)), max_size=4)):
        if draw(st.integers(0, 4)) == 0:
            event.pop(name, None)
        else:
            event[name] = draw(_fields[name])
    return event


_shared = st.fixed_dictionaries(
    {},
    optional={
        "sentAt": st.none() | st.sampled_from(["2024-05-01T12:30:16.000Z", "soon"]) | st.just(7),
        "context": st.none() | st.just({"ip": "0.0.0.0"}),
        "integrations": st.none() | st.just({"All": False}),
    },
)


@settings(max_examples=600, deadline=None)
@given(events(), _shared)
def test_batch_events_take_the_fast_path_only_as_the_general_path_would(
    event: dict[str, Any], shared: dict[str, Any]
) -> None:
    assert_same_or_declined(event, shared, None)


@settings(max_examples=300, deadline=None)
@given(events(), st.sampled_from(sorted(["identify", "track", "page", "screen", "alias", "group"])))
def test_single_events_take_the_fast_path_only_as_the_general_path_would(
    event: dict[str, Any], kind: str
) -> None:
    assert_same_or_declined(event, {}, kind)
