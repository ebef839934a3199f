"""The intake's pure parts: repair, value checks, batch rules, receive-time text."""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailbridge.events import format_time
from sailbridge.intake.documents import BodyError, batch_body, event_body, events_body
from sailbridge.intake.repair import MAX_DEPTH, repair_json, value_problem
from sailbridge.intake.rules import (
    NO_SHARED,
    Shared,
    TypeMismatch,
    deletion_as_track,
    shared_fields,
    with_shared,
    with_type,
)
from sailbridge.intake.sorting import Received, TimeText


def repaired(text: bytes) -> Any:
    return msgspec.json.decode(repair_json(text))


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
    max_leaves=20,
)


@given(_json_values)
def test_repair_leaves_valid_json_without_nul_or_lone_surrogates_as_it_is(value: Any) -> None:
    text = json.dumps(value).encode()  # ASCII escapes: pairs for non-BMP, never lone
    if b"\\u0000" in text or any(
        0xD800 <= ord(c) <= 0xDFFF for c in json.dumps(value, ensure_ascii=False)
    ):
        return
    assert repaired(text) == msgspec.json.decode(text)


@pytest.mark.parametrize(
    ("given_text", "expected"),
    [
        (b'"\\ud83d"', "\ufffd"),
        (b'"\\ude00x"', "\ufffdx"),
        (b'"\\ud83d\\ude00"', "\U0001f600"),
        (b'"\\ud83d\\ud83d\\ude00"', "\ufffd\U0001f600"),
        (b'"\\\\ud83d"', "\\ud83d"),
        (b'"\\\\\\ud83d"', "\\\ufffd"),
        (b'"a\\u0000b"', "a\ufffdb"),
        (b'"\\\\u0000"', "\\u0000"),
        (b'"caf\xe9"', "caf\ufffd"),
        (b'"\xed\xa0\x80"', "\ufffd\ufffd\ufffd"),
    ],
)
def test_repair_replaces_what_cannot_be_stored_by_the_replacement_character(
    given_text: bytes, expected: str
) -> None:
    assert repaired(given_text) == expected


def test_a_nul_key_is_repaired_too() -> None:
    assert repaired(b'{"a\\u0000":1}') == {"a\ufffd": 1}


@pytest.mark.parametrize("number", [b"1e400", b"-1E+999", b"1" * 400 + b".0", b"9" * 4301])
def test_an_out_of_range_number_becomes_a_reason_naming_its_field(number: bytes) -> None:
    value = repaired(b'{"properties":{"price":[1,' + number + b"]}}")
    problem = value_problem(value)
    assert problem is not None
    assert problem.startswith("properties.price[1]: number ")
    assert problem.endswith(" is out of range")


@pytest.mark.parametrize("number", [b"1e300", b"4.9e-400", b"9" * 4300, b"-0.0"])
def test_numbers_in_range_are_kept(number: bytes) -> None:
    assert repaired(b"[" + number + b"]") == msgspec.json.decode(b"[" + number + b"]")


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 100, 5000])
def test_nesting_past_the_limit_is_a_reason_naming_the_field(levels: int) -> None:
    text = b'{"a":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"
    problem = value_problem(repaired(text))
    assert problem is not None
    assert problem.startswith("a[0]") and f"deeper than {MAX_DEPTH} levels" in problem


def test_nesting_at_the_limit_has_no_problem() -> None:
    text = b'{"a":' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    assert value_problem(repaired(text)) is None


def test_malformed_json_stays_malformed() -> None:
    for text in (b'{"a":', b'{"a":"\\ud83d', b"[" * 100, b'{"a" 1}'):
        with pytest.raises(msgspec.DecodeError):
            msgspec.json.decode(repair_json(text))


def test_batch_rules_merge_shared_objects_under_the_events_own() -> None:
    shared = shared_fields(
        {
            "context": {"ip": "1.1.1.1", "locale": "fr"},
            "integrations": {"All": False},
            "sentAt": "2024-05-01T12:00:00Z",
        }
    )
    event = {"context": {"locale": "en"}, "sentAt": "2024-05-01T13:00:00Z"}
    assert with_shared(event, shared) == {
        "context": {"ip": "1.1.1.1", "locale": "en"},
        "integrations": {"All": False},
        "sentAt": "2024-05-01T13:00:00Z",
    }
    assert with_shared({}, shared)["sentAt"] == "2024-05-01T12:00:00Z"


@pytest.mark.parametrize("odd", ["yesterday", 12, {}, None, ""])
def test_an_unreadable_batch_sent_at_is_dropped(odd: Any) -> None:
    assert shared_fields({"sentAt": odd}) == NO_SHARED


def test_shared_fields_that_are_not_objects_are_ignored() -> None:
    assert shared_fields({"context": "x", "integrations": [1]}) == Shared()
    assert with_shared({"a": 1}, NO_SHARED) == {"a": 1}


def test_the_type_comes_from_the_path_and_a_different_one_is_refused() -> None:
    assert with_type({}, "track") == {"type": "track"}
    assert with_type({"type": "Track"}, "track") == {"type": "Track"}
    assert with_type({"type": "page"}, None) == {"type": "page"}
    with pytest.raises(TypeMismatch):
        with_type({"type": "identify"}, "track")
    with pytest.raises(TypeMismatch):
        with_type({"type": 3}, "track")


def test_a_delete_is_a_user_deleted_track() -> None:
    assert deletion_as_track({"type": "DELETE", "userId": "u"}) == {
        "type": "track",
        "event": "User Deleted",
        "userId": "u",
    }
    assert deletion_as_track({"type": "track"}) == {"type": "track"}


def test_bodies_are_split_by_shape() -> None:
    assert len(events_body(b'[{"a":1},{"b":2}]').events) == 2
    assert len(events_body(b'{"type":"track"}').events) == 1
    assert events_body(b'{"batch":[{}],"writeKey":"k"}').write_key == "k"
    assert event_body(b'{"writeKey":"k"}').write_key == "k"
    for reader, text, kind in [
        (batch_body, b"[1]", "shape"),
        (batch_body, b"{}", "shape"),
        (batch_body, b'{"batch":1}', "shape"),
        (batch_body, b"{oops", "malformed"),
        (event_body, b"[]", "shape"),
        (events_body, b"3", "shape"),
    ]:
        with pytest.raises(BodyError) as caught:
            reader(text)
        assert caught.value.kind == kind


def test_more_than_the_event_cap_is_refused_but_files_have_none() -> None:
    text = b'{"batch":[' + b",".join([b"{}"] * 2501) + b"]}"
    with pytest.raises(BodyError) as caught:
        batch_body(text)
    assert caught.value.kind == "too_many"
    assert len(events_body(text, max_events=None).events) == 2501


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_the_receive_time_text_is_format_time_of_the_moment(epoch: float) -> None:
    received = Received(epoch, TimeText())
    assert received.text == format_time(received.moment)
    assert math.isclose(received.moment.timestamp(), epoch, abs_tol=1e-6)
