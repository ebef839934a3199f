"""`POST /admin/forget` on a running `serve` (issue 8): the deletion is queued behind the
user's events, delivered, and the store keeps no trace (SQLite bytes, PostgreSQL rows)."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from sailbridge.sandbox.server import SandboxHandle

from ..cli.test_forget import HISTORY, USER, assert_forgotten
from .conftest import StartServe
from .process import ADMIN_TOKEN, WRITE_KEY


def test_the_admin_api_forgets_a_person_behind_the_token(
    serve_process: StartServe, sandbox: SandboxHandle, tmp_path: Path, database: str
) -> None:
    serve = serve_process(database=database)
    for event in HISTORY:
        response = requests.post(
            serve.url + "/v1/batch",
            timeout=10,
            auth=(WRITE_KEY, ""),
            json={"batch": [{**event, "messageId": f"m-{id(event)}"}]},
        )
        assert response.status_code == 200
    serve.wait_until_settled(len(HISTORY))
    unauthorised = requests.post(serve.url + "/admin/forget", json={"user_id": USER}, timeout=10)
    assert unauthorised.status_code == 401

    queued = serve.admin("/forget", "POST", json={"user_id": USER})

    deadline = time.monotonic() + 30
    while (
        requests.get(
            serve.url + f"/admin/dlq/{queued['queued']}",
            timeout=10,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).status_code
        != 404
    ):
        assert time.monotonic() < deadline, "the deletion did not finish"
        time.sleep(0.2)
    assert_forgotten(sandbox, database)


def test_the_admin_api_refuses_a_blank_user_id(serve_process: StartServe) -> None:
    serve = serve_process()
    response = requests.post(
        serve.url + "/admin/forget",
        json={"user_id": " "},
        timeout=10,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 400
    assert "name the user to forget" in response.json()["message"]
