"""The sandbox's Job API: multipart uploads signed over the text parameters only,
``update`` and ``purchase_import`` applied after the configured delay, ``GET /job``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from sailthru.sailthru_client import SailthruClient as OfficialClient
from sailthru.sailthru_client import get_signature_hash

from sailbridge.sailthru.client import SailthruClient
from sailbridge.sailthru.errors import CredentialsError, PermanentError
from sailbridge.sailthru.signing import signature, signed_params
from sailbridge.sandbox.server import SandboxHandle


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


def wait_for_job(client: OfficialClient, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.api_get("job", {"job_id": job_id}).get_body()
        if body.get("status") != "pending" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


@pytest.fixture
def quick(sandbox: SandboxHandle) -> SandboxHandle:
    sandbox.configure(job_delay=0.2)
    return sandbox


def test_job_signature_covers_the_text_parameters_only_as_the_official_client_signs() -> None:
    # The official clients drop the file before signing: md5(secret + sorted values of
    # api_key, format and json). A fixed vector of that rule:
    params = signed_params("123key", "abcsecret", {"job": "update"})
    assert params["json"] == '{"job":"update"}'
    assert params["sig"] == signature("abcsecret", ["123key", "json", '{"job":"update"}'])
    assert params["sig"] == "e700bf6200806d61d6797bb984dde0c6"
    assert params["sig"] == get_signature_hash(
        {"api_key": "123key", "format": "json", "json": '{"job":"update"}'}, "abcsecret"
    )


def test_official_client_uploads_an_update_job_that_is_applied_after_the_delay(
    quick: SandboxHandle, client: OfficialClient, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "users.json",
        [
            {"email": "ann@example.com", "vars": {"plan": "pro"}},
            {"id": "bob@example.com", "vars": {"plan": "free"}},
        ],
    )

    started = client.api_post(
        "job",
        {"job": "update", "file": str(path), "update": {"lists": {"Weekly": 1}}},
        binary_data_param=["file"],
    )

    body = started.get_body()
    assert started.is_ok(), body
    assert body["status"] == "pending"
    assert quick.state()["profiles"] == []
    finished = wait_for_job(client, body["job_id"])
    assert finished["status"] == "completed", finished
    profiles = {p["keys"]["email"]: p for p in quick.state()["profiles"]}
    assert profiles["ann@example.com"]["vars"] == {"plan": "pro"}
    assert profiles["bob@example.com"]["vars"] == {"plan": "free"}
    assert all("Weekly" in p["lists"] for p in profiles.values())
    [job] = quick.state()["jobs"]
    assert job["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_purchase_import_files_purchases_at_their_date_and_keeps_the_cart(
    quick: SandboxHandle, client: OfficialClient, tmp_path: Path
) -> None:
    item = {"id": "mug", "title": "Mug", "qty": 2, "price": 1299, "url": "https://e/mug"}
    client.api_post("purchase", {"email": "ann@example.com", "incomplete": 1, "items": [item]})
    path = write_lines(
        tmp_path / "orders.json",
        [
            {
                "email": "ann@example.com",
                "date": "2019-06-01 12:00:00 +0000",
                "items": [item],
                "purchase_keys": {"extid": "o-1"},
            },
        ],
    )

    started = client.api_post(
        "job", {"job": "purchase_import", "file": str(path)}, binary_data_param=["file"]
    )

    assert wait_for_job(client, started.get_body()["job_id"])["status"] == "completed"
    [profile] = quick.state()["profiles"]
    [purchase] = profile["purchases"]
    assert purchase["time"] == 1559390400.0
    assert purchase["purchase_keys"] == {"extid": "o-1"} and purchase["price"] == 2598
    assert profile["cart"] is not None


def test_a_malformed_line_ends_the_job_in_error_with_nothing_applied(
    quick: SandboxHandle, client: OfficialClient, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "users.json", [{"email": "ann@example.com"}, "{not json"])

    started = client.api_post(
        "job", {"job": "update", "file": str(path)}, binary_data_param=["file"]
    )

    finished = wait_for_job(client, started.get_body()["job_id"])
    assert finished["status"] == "error"
    assert "line 2" in finished["errormsg"]
    assert quick.state()["profiles"] == []


def test_a_purchase_in_dollars_ends_the_import_in_error(
    quick: SandboxHandle, client: OfficialClient, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "orders.json",
        [
            {
                "email": "ann@example.com",
                "date": "2019-06-01 12:00:00 +0000",
                "items": [
                    {"id": "mug", "title": "Mug", "qty": 1, "price": 12.99, "url": "https://e"}
                ],
            },
        ],
    )

    started = client.api_post(
        "job", {"job": "purchase_import", "file": str(path)}, binary_data_param=["file"]
    )

    finished = wait_for_job(client, started.get_body()["job_id"])
    assert finished["status"] == "error" and "integer number of cents" in finished["errormsg"]


def test_a_stray_text_field_breaks_the_signature(quick: SandboxHandle, tmp_path: Path) -> None:
    signed = signed_params(quick.config.api_key, quick.config.api_secret, {"job": "update"})
    path = write_lines(tmp_path / "users.json", [{"email": "ann@example.com"}])

    with path.open("rb") as handle:
        answer = requests.post(
            quick.url + "/job", data={**signed, "extra": "x"}, files={"file": handle}, timeout=10
        )

    assert answer.status_code == 401 and answer.json()["error"] == 5


def test_a_job_post_without_a_file_is_missing_a_parameter(client: OfficialClient) -> None:
    response = client.api_post("job", {"job": "update"})

    assert response.get_error().get_error_code() == 2


def test_unknown_job_type_and_unknown_job_id_are_refused(
    client: OfficialClient, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "x.json", [{"email": "ann@example.com"}])
    refused = client.api_post(
        "job", {"job": "export_list_data", "file": str(path)}, binary_data_param=["file"]
    )
    unknown = client.api_get("job", {"job_id": "job-999999"})

    assert refused.get_error().get_error_code() == 99
    assert unknown.get_error().get_message() == "Job not found: job-999999"


async def test_sailbridge_client_uploads_with_aiohttp_multipart_and_reads_the_status(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "users.json", [{"email": "ann@example.com"}])
    sent: list[int] = []
    async with aiohttp.ClientSession() as session:
        client = SailthruClient(
            session,
            api_key=quick.config.api_key,
            api_secret=quick.config.api_secret,
            base_url=quick.url,
        )
        started = await client.post_job("update", {}, path, on_bytes=sent.append)
        status = await client.job_status(started.body["job_id"])
        assert status.body["status"] == "pending"
        await asyncio.sleep(0.3)
        status = await client.job_status(started.body["job_id"])

    assert status.body["status"] == "completed"
    assert sum(sent) == path.stat().st_size
    [entry] = [e for e in quick.requests() if e["endpoint"] == "/job" and e["method"] == "POST"]
    assert entry["params"] == {"job": "update"}  # the logged json parameter: no file, no key


async def test_sailbridge_client_raises_on_a_wrong_secret_and_a_refused_job(
    quick: SandboxHandle, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "users.json", [{"email": "ann@example.com"}])
    async with aiohttp.ClientSession() as session:
        wrong = SailthruClient(
            session, api_key=quick.config.api_key, api_secret="nope", base_url=quick.url
        )
        right = SailthruClient(
            session,
            api_key=quick.config.api_key,
            api_secret=quick.config.api_secret,
            base_url=quick.url,
        )
        with pytest.raises(CredentialsError):
            await wrong.post_job("update", {}, path)
        with pytest.raises(PermanentError, match="Unsupported job type"):
            await right.post_job("nonsense", {}, path)
