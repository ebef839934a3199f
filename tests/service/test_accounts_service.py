"""Two Sailthru accounts in one `sailbridge serve` (both stores): two sandboxes, one
source feeding both and one feeding only the first; each sandbox holds exactly its
events, and refused credentials in one account pause only that account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sailbridge.sandbox.server import SandboxHandle

from ..environment import clean_environment
from .process import ADMIN_TOKEN, ServeProcess, free_port
from .test_operations import wait_for

BOTH_KEY = "wk_web_feeds_both"
A_KEY = "wk_app_feeds_a"


def two_brands(a: SandboxHandle, b: SandboxHandle, b_secret: str | None = None) -> str:
    return f"""
[[accounts]]
name = "brand-a"
sailthru_api_key = "{a.config.api_key}"
sailthru_api_secret = "{a.config.api_secret}"
sailthru_base_url = "{a.url}"
customer_id = "{a.config.customer_id}"

[[accounts]]
name = "brand-b"
sailthru_api_key = "{b.config.api_key}"
sailthru_api_secret = "{b_secret or b.config.api_secret}"
sailthru_base_url = "{b.url}"
customer_id = "{b.config.customer_id}"
default_list_name = "Brand B"

[[sources]]
name = "web"
write_keys = ["{BOTH_KEY}"]
accounts = ["brand-a", "brand-b"]

[[sources]]
name = "app"
write_keys = ["{A_KEY}"]
accounts = ["brand-a"]
"""


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    started: list[ServeProcess] = []

    def run(config: str, database: str) -> ServeProcess:
        path = tmp_path / f"accounts-{len(started)}.toml"
        path.write_text(config)
        env = {
            **clean_environment(),
            "SAILBRIDGE_DATABASE": database,
            "SAILBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
            "SAILBRIDGE_HOST": "127.0.0.1",
            "SAILBRIDGE_PORT": str(free_port()),
            "SAILBRIDGE_RETRY_MIN_DELAY": "0.2",
            "SAILBRIDGE_RETRY_MAX_DELAY": "1",
            "SAILBRIDGE_REQUEST_TIMEOUT": "2",
        }
        process = ServeProcess(env, tmp_path / f"serve-{len(started)}.log", ("--config", str(path)))
        started.append(process)
        return process.start()

    yield run
    for process in started:
        process.stop()


def post(service: ServeProcess, key: str, batch: list[dict[str, Any]]) -> None:
    response = requests.post(
        service.url + "/v1/batch", json={"batch": batch}, auth=(key, ""), timeout=10
    )
    assert response.status_code == 200, response.text


def identify(user: str) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "traits": {"email": f"{user}@example.com"}}


def test_each_account_holds_exactly_the_events_its_sources_feed(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, start: Any, database: str
) -> None:
    service = start(two_brands(sandbox, sandbox_b), database)

    post(
        service,
        BOTH_KEY,
        [identify("web-user"), {"type": "track", "userId": "web-user", "event": "Signed Up"}],
    )
    post(service, A_KEY, [identify("app-user")])

    status = service.wait_until_settled(5)
    assert (status["delivered"], status["dead"]) == (5, 0)
    assert sandbox.user("web-user") is not None and sandbox.user("app-user") is not None
    assert sandbox_b.user("web-user") is not None
    assert sandbox_b.user("app-user") is None
    assert [event["event"] for event in sandbox_b.user("web-user")["events"]] == ["Signed Up"]
    assert "Brand B" in sandbox_b.user("web-user")["lists"]
    assert "Brand B" not in sandbox.user("web-user")["lists"]


def test_refused_credentials_pause_only_their_account(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, start: Any, database: str
) -> None:
    service = start(two_brands(sandbox, sandbox_b, b_secret="not-brand-b-secret"), database)

    post(service, BOTH_KEY, [identify(f"u{n}") for n in range(5)])

    wait_for(lambda: "brand-b" in (service.admin("/status")["paused_reason"] or ""))
    wait_for(lambda: all(sandbox.user(f"u{n}") is not None for n in range(5)))
    status = service.admin("/status")
    assert status["delivered"] == 5
    assert status["paused_reason"].startswith("brand-b: ")
    assert "brand-a" not in status["paused_reason"]
    assert all(sandbox_b.user(f"u{n}") is None for n in range(5))
    log = service.log.read_text()
    assert "not-brand-b-secret" not in log and sandbox_b.config.api_secret not in log


def test_admin_status_counts_the_account_named_and_each_beside_the_whole(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, start: Any, database: str
) -> None:
    service = start(two_brands(sandbox, sandbox_b, b_secret="not-brand-b-secret"), database)
    post(service, BOTH_KEY, [identify(f"u{n}") for n in range(4)])
    post(service, A_KEY, [identify("app-user")])
    wait_for(lambda: service.admin("/status?account=brand-b")["paused"])
    wait_for(lambda: service.admin("/status?account=brand-a")["delivered"] == 5)

    a = service.admin("/status?account=brand-a")
    b = service.admin("/status?account=brand-b")
    whole = service.admin("/status")

    assert (a["pending"], a["delivered"], a["paused"]) == (0, 5, False)
    assert (b["pending"], b["delivered"], b["paused"]) == (4, 0, True)
    assert b["paused_accounts"].keys() == {"brand-b"} and a["paused_accounts"] == {}
    assert b["drain"]["routes"][0]["calls"] == 4 and a["drain"]["routes"] == []
    assert (whole["pending"], whole["delivered"]) == (4, 5)
    assert {name: view["pending"] for name, view in whole["accounts"].items()} == {
        "brand-a": 0,
        "brand-b": 4,
    }


def test_dead_letters_replay_and_forget_go_per_account(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, start: Any, database: str
) -> None:
    service = start(two_brands(sandbox, sandbox_b), database)
    post(
        service,
        BOTH_KEY,
        [identify("ada"), {"type": "track", "userId": "ada", "event": "purchase"}],
    )
    status = service.wait_until_settled(4)
    assert (status["delivered"], status["dead"]) == (2, 2)  # "purchase" is reserved

    dead_b = service.admin("/dlq", params={"account": "brand-b"})["dead"]
    assert [(job["account"], job["event"]) for job in dead_b] == [("brand-b", "purchase")]
    replayed = service.admin("/dlq/replay", "POST", json={"all": True, "account": "brand-b"})
    assert replayed == {"replayed": 1}
    wait_for(lambda: service.admin("/status")["dead"] == 2)  # dead again, in brand-b only
    metrics = requests.get(service.url + "/metrics", timeout=10).text
    assert (
        'sailbridge_jobs_dead_total{account="brand-b",event_type="track",route="none"} 2.0'
        in metrics
    )
    assert (
        'sailbridge_jobs_dead_total{account="brand-a",event_type="track",route="none"} 1.0'
        in metrics
    )

    service.admin("/forget", "POST", json={"user_id": "ada", "account": "brand-b"})
    wait_for(lambda: sandbox_b.user("ada") is None)
    assert sandbox.user("ada") is not None
    queued = service.admin("/forget", "POST", json={"user_id": "ada"})
    assert len(queued["jobs"]) == 2  # every account
    wait_for(lambda: sandbox.user("ada") is None)


def test_an_unknown_account_is_a_clear_400(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, start: Any, tmp_path: Path
) -> None:
    service = start(two_brands(sandbox, sandbox_b), str(tmp_path / "one.db"))
    response = requests.get(
        service.url + "/admin/dlq",
        params={"account": "brand-c"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 400
    assert "unknown account 'brand-c'" in response.json()["message"]


def test_a_source_naming_an_unknown_account_stops_serve_with_one_line(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, tmp_path: Path
) -> None:
    import subprocess
    import sys

    config = tmp_path / "bad.toml"
    config.write_text(
        two_brands(sandbox, sandbox_b).replace(
            'accounts = ["brand-a"]\n', 'accounts = ["brand-c"]\n'
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "sailbridge", "serve", "--config", str(config)],
        check=False,
        env={**clean_environment(), "SAILBRIDGE_DATABASE": str(tmp_path / "x.db")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "source 'app' names an unknown account 'brand-c'" in line
    assert sandbox_b.config.api_secret not in result.stderr


def test_a_signed_webhook_goes_to_the_accounts_of_the_source_whose_secret_signs_it(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, start: Any, tmp_path: Path
) -> None:
    import json

    from sailbridge.server.webhook import signature

    config = two_brands(sandbox, sandbox_b) + (
        '\n[[sources]]\nname = "hooks-b"\nwebhook_secrets = ["hook-secret-b"]\n'
        'accounts = ["brand-b"]\n'
    )
    service = start(
        config.replace(
            'write_keys = ["wk_app_feeds_a"]',
            'write_keys = ["wk_app_feeds_a"]\nwebhook_secrets = ["hook-secret-a"]',
        ),
        str(tmp_path / "hooks.db"),
    )
    for user, secret in (("hooked-a", "hook-secret-a"), ("hooked-b", "hook-secret-b")):
        body = json.dumps(identify(user)).encode()
        response = requests.post(
            service.url + "/v1/webhook",
            data=body,
            timeout=10,
            headers={"Content-Type": "application/json", "X-Signature": signature(secret, body)},
        )
        assert response.status_code == 200, response.text
    service.wait_until_settled(2)
    assert sandbox.user("hooked-a") is not None and sandbox_b.user("hooked-a") is None
    assert sandbox_b.user("hooked-b") is not None and sandbox.user("hooked-b") is None
    forged = requests.post(
        service.url + "/v1/webhook",
        data=b'{"type":"identify"}',
        timeout=10,
        headers={"X-Signature": "0" * 40},
    )
    assert forged.status_code == 401


TROUBLE = {
    # every call answered 429, whatever the limit says, for as long as it lasts
    "429 storm": {"throttle_rate": 1.0, "rate_limit_window": 1.0},
    # every call held far past sailbridge's request timeout (2 s here): an outage
    "outage": {"slow_rate": 1.0, "slow_seconds": 20.0},
}


@pytest.mark.parametrize("trouble", sorted(TROUBLE))
def test_one_accounts_trouble_neither_holds_up_the_other_nor_loses_its_events(
    sandbox: SandboxHandle, sandbox_b: SandboxHandle, start: Any, database: str, trouble: str
) -> None:
    sandbox.configure(**TROUBLE[trouble])  # brand-a's Sailthru misbehaves from the start
    service = start(two_brands(sandbox, sandbox_b), database)

    post(service, BOTH_KEY, [identify(f"u{n}") for n in range(20)])
    post(service, A_KEY, [identify(f"app{n}") for n in range(5)])

    # brand-b delivers all of its events while brand-a's calls fail...
    wait_for(lambda: service.admin("/status?account=brand-b")["delivered"] == 20, timeout=30)
    assert all(sandbox_b.user(f"u{n}") is not None for n in range(20))
    a = service.admin("/status?account=brand-a")
    if trouble == "429 storm":  # tried, and refused
        assert sandbox.state()["counters"]["rate_limited"] > 0
    else:  # tried, and timed out (the sandbox records a call once it answers)
        assert a["retrying"] + a["in_flight"] > 0
    # ...which are held or retried, not lost: nothing delivered, nothing dead.
    assert (a["delivered"], a["dead"]) == (0, 0)
    assert a["pending"] + a["retrying"] + a["in_flight"] == 25

    sandbox.configure(throttle_rate=0.0, slow_rate=0.0)  # brand-a's Sailthru is back

    wait_for(lambda: service.admin("/status?account=brand-a")["delivered"] == 25, timeout=60)
    assert service.admin("/status")["dead"] == 0
    assert all(sandbox.user(f"u{n}") is not None for n in range(20))
    assert all(sandbox.user(f"app{n}") is not None for n in range(5))
