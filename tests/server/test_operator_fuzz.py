"""Whatever an operator types — NULs, lone surrogates, control characters, huge or
odd values — into the admin API or the console's filters and forms, the answer is
never a 5xx, on either store. Text no store can hold is refused with a 400 that says
why (`sailbridge.operations.storable_text`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sailbridge.service import Roles, running_service
from sailbridge.settings import Settings
from tests.store.postgres_server import (  # noqa: F401 - fixtures
    postgres_database,
    postgres_url,
)

TOKEN = "operator-fuzz-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}

# Any code point, surrogates and NUL included, weighted towards the awkward ones.
awkward = st.one_of(
    st.text(st.characters(codec=None, categories=None), max_size=30),
    st.sampled_from(
        [
            "\x00",
            "a\x00",
            "\ud800",
            "x\udfff",
            "%00",
            "\u2028",
            " ",
            "",
            "9" * 30,
            "-1",
            "0",
            "Unknown template",
            "\x1b[31m",
            "' OR 1=1 --",
        ]
    ),
)
anything = st.one_of(
    awkward,
    st.integers(),
    st.none(),
    st.booleans(),
    st.lists(st.one_of(st.integers(), awkward), max_size=3),
)


class Service:
    """A running service (ingest, admin API, console; no delivery) and a logged-in
    console session."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.console = requests.Session()
        page = self.console.get(url + "/console/login", timeout=10)
        self.console.post(
            url + "/console/login",
            timeout=10,
            data={"csrf": self.csrf(page.text), "next": "/console/", "token": TOKEN},
        )
        dead = self.console.get(url + "/console/dead", timeout=10)
        assert "/login" not in dead.url, "the console login failed"
        self.form_csrf = self.csrf(dead.text)

    @staticmethod
    def csrf(html: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found, html[:500]
        return found.group(1)


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    if request.param == "sqlite":
        database = str(Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.db")
    else:
        database = request.getfixturevalue("postgres_database")
    configured = Settings(database=database, write_keys="wk_fuzz", admin_token=TOKEN)
    with running_service(configured, Roles(ingest=True, delivery=False)) as handle:
        yield Service(handle.url)


def raw_json(value: Any) -> bytes:
    """JSON as Python writes it: a lone surrogate becomes ``\\ud800``, which parses
    back to the same lone surrogate on the server."""
    return json.dumps(value).encode()


def no_5xx(response: requests.Response) -> None:
    assert response.status_code < 500, (
        response.request.method,
        response.request.url,
        response.request.body,
        response.text[:500],
    )


FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(reason=awkward, limit=awkward)
def test_admin_listings(service: Service, reason: str, limit: str) -> None:
    for path, params in (
        ("/admin/dlq", {"reason": reason, "limit": limit}),
        ("/admin/rejected", {"limit": limit}),
    ):
        try:
            request = requests.Request(
                "GET", service.url + path, params=params, headers=ADMIN
            ).prepare()
        except UnicodeError:  # requests cannot encode a lone surrogate into a URL
            continue
        no_5xx(requests.Session().send(request, timeout=10))


@FUZZ
@given(
    body=st.dictionaries(
        st.sampled_from(["reason", "ids", "all", "older_than", "user_id"]), anything, max_size=3
    ),
    path=st.sampled_from(["/admin/dlq/replay", "/admin/dlq/purge", "/admin/forget"]),
)
def test_admin_actions(service: Service, body: dict[str, Any], path: str) -> None:
    no_5xx(
        requests.post(
            service.url + path,
            data=raw_json(body),
            timeout=10,
            headers={**ADMIN, "Content-Type": "application/json"},
        )
    )


@pytest.mark.parametrize(
    "path,body,words",
    [
        ("/admin/dlq/replay", {"reason": "a\u0000"}, "NUL"),
        ("/admin/dlq/replay", {"reason": "a\ud800"}, "malformed JSON"),  # the parser says
        ("/admin/forget", {"user_id": "u\u0000"}, "NUL"),
    ],
)
def test_text_no_store_can_hold_is_a_clear_400(
    service: Service, path: str, body: dict[str, str], words: str
) -> None:
    response = requests.post(
        service.url + path,
        data=raw_json(body),
        timeout=10,
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and words in response.text, response.text
    listed = requests.get(service.url + "/admin/dlq?reason=%00", headers=ADMIN, timeout=10)
    assert listed.status_code == 400 and "NUL" in listed.text


def encoded(fields: dict[str, str]) -> bytes:
    """A urlencoded form, surrogates passed through (as a browser never would)."""
    from urllib.parse import quote

    return "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in fields.items()
    ).encode()


@FUZZ
@given(state=awkward, user=awkward, event=awkward, reason=awkward, before=awkward)
def test_console_filters(
    service: Service, state: str, user: str, event: str, reason: str, before: str
) -> None:
    filters = {"state": state, "user": user, "event": event, "reason": reason, "before": before}
    for path, names in (
        ("/console/events", filters),
        ("/console/dead", ["reason", "before"]),
        ("/console/timeline", ["user", "before"]),
    ):
        query = encoded({name: filters[name] for name in names}).decode()
        no_5xx(service.console.get(f"{service.url}{path}?{query}", timeout=10))


@FUZZ
@given(
    action=st.sampled_from(["replay", "purge", "send", "explain", ""]) | awkward,
    scope=st.sampled_from(["reason", "selected"]) | awkward,
    reason=awkward,
    ids=st.lists(awkward, max_size=3),
    events=awkward,
    path=st.sampled_from(["/console/dead/confirm", "/console/dead/act", "/console/tester"]),
)
def test_console_forms(
    service: Service, action: str, scope: str, reason: str, ids: list[str], events: str, path: str
) -> None:
    fields = {
        "csrf": service.form_csrf,
        "action": action,
        "scope": scope,
        "reason": reason,
        "events": events or json.dumps({"type": "track", "userId": reason, "event": reason}),
    }
    body = encoded(fields) + b"".join(b"&" + encoded({"ids": value}) for value in ids)
    no_5xx(
        service.console.post(
            service.url + path,
            data=body,
            timeout=10,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    )
