"""Property-based fuzzing of the ingest routes over real HTTP, on both stores.

Two properties, each over a fixed number of generated requests (so CI stays fast):

1. A well-formed request carrying arbitrary bad events — wrong types, lone
   surrogates, invalid UTF-8, NUL, deep nesting, numbers out of range — beside one
   marked valid event is answered 200 and the marked event is stored.
2. Anything at all — malformed JSON, random bytes, odd headers, gzip bombs, any
   route — is never answered 5xx.
"""

from __future__ import annotations

import base64
import gzip
import itertools
from collections.abc import Callable

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Serve
from .live import WRITE_KEY, LiveServer, basic_auth

EXAMPLES = 120
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
_ids = itertools.count()


def _quoted(content: bytes) -> bytes:
    return b'"' + content + b'"'


# -- well-formed JSON text whose strings and numbers are as bad as they get ------------

_string_bytes = st.binary(max_size=10).map(
    lambda b: bytes(c for c in b if c >= 0x20 and c not in b'"\\')
)
_bad_strings = st.one_of(
    st.sampled_from(
        [
            b"\\ud83d",
            b"\\udc00x",
            b"a\\u0000b",
            b"\\u0000",
            b"\\ud83d\\ude00",
            b"\\\\ud83d",
            b"caf\xe9",
            b"\xff\xfe",
            b"\xed\xa0\x80",
            b"ok",
        ]
    ),
    _string_bytes,
).map(_quoted)
_repairable = st.one_of(
    _bad_strings,
    st.sampled_from([b"true", b"false", b"null", b"0"]),
    st.integers().map(lambda n: str(n).encode()),
)
_bad_numbers = st.sampled_from(
    [
        b"1e400",
        b"-1e999",
        b"1" * 400 + b".5",
        b"9" * 5000,
        b"4.9e-400",
        b"123456789012345678901234567890",
    ]
)
_deep = st.integers(min_value=60, max_value=1500).map(lambda n: b"[" * n + b"]" * n)


def _array(items: list[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


def _object(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"{" + b",".join(k + b":" + v for k, v in pairs) + b"}"


def _json(leaves: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4).map(_array),
            st.lists(st.tuples(_bad_strings, kids), max_size=4).map(_object),
        ),
        max_leaves=12,
    )


_anything = _json(st.one_of(_repairable, _bad_numbers, _deep))
_fields = st.sampled_from(
    [
        b"type",
        b"userId",
        b"anonymousId",
        b"event",
        b"messageId",
        b"properties",
        b"traits",
        b"context",
        b"integrations",
        b"timestamp",
        b"sentAt",
        b"originalTimestamp",
        b"previousId",
    ]
)
_bad_event = st.one_of(
    _anything,
    st.lists(
        st.tuples(
            _fields.map(_quoted),
            st.one_of(
                _anything,
                st.sampled_from(
                    [b'"track"', b'"identify"', b'"delete"', b'"u1"', b'"2024-05-01T12:00:00Z"']
                ),
            ),
        ),
        max_size=6,
    ).map(_object),
)
_shared = st.lists(
    st.tuples(st.sampled_from([b'"context"', b'"integrations"', b'"sentAt"']), _json(_repairable)),
    max_size=3,
)


def marked_event() -> tuple[str, bytes]:
    message_id = f"fuzz-{next(_ids)}"
    return message_id, (
        b'{"type":"track","event":"Fuzz","userId":"fuzzer","messageId":"'
        + message_id.encode()
        + b'","timestamp":"2024-05-01T12:00:00.000Z"}'
    )


def stored_ids(live: LiveServer) -> set[str]:
    return {job.message_id or "" for job in live.jobs()}


@pytest.fixture
def live(any_store_serve: Serve) -> LiveServer:
    return any_store_serve(webhook_secrets=("whsec",), cors_origins=frozenset({"*"}))


Route = Callable[[bytes, list[tuple[bytes, bytes]]], tuple[str, bytes, dict[str, str]]]


def _batch_route(path: str, key_in_body: bool) -> Route:
    def build(
        events: bytes, shared: list[tuple[bytes, bytes]]
    ) -> tuple[str, bytes, dict[str, str]]:
        pairs = [(b'"batch"', events), *shared]
        if key_in_body:
            pairs.append((b'"writeKey"', _quoted(WRITE_KEY.encode())))
        return path, _object(pairs), {} if key_in_body else basic_auth(WRITE_KEY)

    return build


def _webhook(events: bytes, shared: list[tuple[bytes, bytes]]) -> tuple[str, bytes, dict[str, str]]:
    return "/v1/webhook", events, basic_auth(WRITE_KEY)


ROUTES: dict[str, Route] = {
    "batch": _batch_route("/v1/batch", False),
    "import": _batch_route("/v1/import", False),
    "b": _batch_route("/v1/b", True),
    "beacon": _batch_route(f"/beacon/v1/batch?writeKey={WRITE_KEY}", False),
    "webhook": _webhook,
}


@FUZZ
@given(
    route=st.sampled_from(sorted(ROUTES)),
    before=st.lists(_bad_event, max_size=3),
    after=st.lists(_bad_event, max_size=2),
    shared=_shared,
    gzipped=st.booleans(),
    content_type=st.sampled_from(["text/plain", "application/json", ""]),
)
def test_bad_events_never_cost_the_marked_valid_event_beside_them(
    live: LiveServer,
    route: str,
    before: list[bytes],
    after: list[bytes],
    shared: list[tuple[bytes, bytes]],
    gzipped: bool,
    content_type: str,
) -> None:
    message_id, marked = marked_event()
    path, body, headers = ROUTES[route](_array([*before, marked, *after]), shared)
    headers = {**headers, "Content-Type": content_type}
    if gzipped:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    if len(body) > 500 * 1024:
        return  # over Segment's request limit: refused whole, by design
    response = requests.post(live.url + path, data=body, headers=headers, timeout=30)
    assert response.status_code == 200, (response.status_code, response.text, body[:300])
    assert message_id in stored_ids(live)


# -- anything at all: no 5xx ----------------------------------------------------------

_header_bytes = st.binary(max_size=40).map(
    lambda b: bytes(c for c in b if c not in b"\r\n\x00").strip()
)
_authorization = st.one_of(
    _header_bytes,
    _header_bytes.map(lambda b: b"Basic " + b),
    st.sampled_from([b"Basic ", b"Basic", b"Basic Og==", b"Bearer x", b"Basic \xe9\xe9"]),
    st.binary(max_size=20).map(lambda b: b"Basic " + base64.b64encode(b)),
    st.just(b"Basic " + base64.b64encode(WRITE_KEY.encode() + b":")),
)
_paths = st.sampled_from(
    [
        "/v1/batch",
        "/v1/import",
        "/v1/b",
        "/v1/t",
        "/v1/i",
        "/v1/p",
        "/v1/s",
        "/v1/g",
        "/v1/a",
        "/v1/track",
        "/v1/identify",
        f"/beacon/v1/batch?writeKey={WRITE_KEY}",
        "/beacon/v1/batch",
        "/v1/webhook",
    ]
)


@st.composite
def _mangled(draw: st.DrawFn) -> bytes:
    _, marked = marked_event()
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            _bad_event,
            st.builds(
                lambda e: _object([(b'"batch"', _array(e))]), st.lists(_bad_event, max_size=3)
            ),
            st.just(_object([(b'"batch"', _array([marked]))])),
        )
    )
    if body and draw(st.booleans()):
        cut = draw(st.integers(min_value=0, max_value=len(body)))
        body = body[:cut] + draw(st.binary(max_size=4)) + body[cut + 1 :]
    return body


_bomb = gzip.compress(b'{"batch":[' + b" " * (20 * 1024 * 1024) + b"]}")


@FUZZ
@given(
    path=_paths,
    body=_mangled(),
    authorization=st.none() | _authorization,
    encoding=st.sampled_from([None, "gzip", "bomb", "br", "x-gzip", "identity", "gzip, br"]),
    extra=st.dictionaries(
        st.sampled_from(["X-Signature", "Origin", "Content-Type", "X-Retry-Count"]),
        _header_bytes,
        max_size=3,
    ),
)
def test_no_request_is_ever_answered_5xx(
    live: LiveServer,
    path: str,
    body: bytes,
    authorization: bytes | None,
    encoding: str | None,
    extra: dict[str, bytes],
) -> None:
    headers: dict[str, str | bytes] = dict(extra)
    if authorization is not None:
        headers["Authorization"] = authorization
    if encoding == "bomb":
        body, encoding = _bomb, "gzip"
    elif encoding in ("gzip", "x-gzip") and body:
        body = gzip.compress(body) if len(body) % 3 else body  # sometimes not gzip at all
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    response = requests.post(live.url + path, data=body, headers=headers, timeout=30)
    assert response.status_code < 500, (response.status_code, response.text, path, body[:200])
    options = requests.options(live.url + path, headers=headers, timeout=30)
    assert options.status_code < 500
