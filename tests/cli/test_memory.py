"""What sailbridge remembers serves later events (issue 8), with real `send` processes
on both stores: a cart event after the cart memory expired still finds the email."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sailbridge.sandbox.server import SandboxHandle

from ..environment import sandbox_environment
from .test_resend import write_jsonl

BUYER_EMAIL = "buyer.ttl@example.com"


def send(
    path: Path, sandbox: SandboxHandle, database: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sailbridge", "send", str(path)],
        env=sandbox_environment(sandbox, database, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_cart_event_after_the_cart_memory_ttl_uses_the_remembered_email(
    sandbox: SandboxHandle, tmp_path: Path, database: str
) -> None:
    # Sailthru knows this buyer by email only (an order carrying context.traits.email,
    # no identify): GET /user by extid finds nobody once the remembered cart expired.
    order = {
        "type": "track",
        "userId": "buyer",
        "event": "Order Completed",
        "context": {"traits": {"email": BUYER_EMAIL}},
        "properties": {"products": [{"product_id": "p", "price": 3, "url": "https://e/p"}]},
    }
    added = {
        "type": "track",
        "userId": "buyer",
        "event": "Product Added",
        "properties": {
            "product_id": "mug",
            "name": "Mug",
            "price": 12,
            "url": "https://shop.example/mug",
        },
    }
    assert send(write_jsonl(tmp_path / "a.jsonl", [order]), sandbox, database).returncode == 0
    assert sandbox.user("buyer") is None

    later = send(
        write_jsonl(tmp_path / "b.jsonl", [added]),
        sandbox,
        database,
        SAILBRIDGE_CART_MEMORY_TTL="0",
    )

    assert later.returncode == 0, later.stdout + later.stderr
    assert "delivered 1" in later.stdout
    profile = sandbox.sandbox.account.find("email", BUYER_EMAIL)
    assert profile is not None
    assert [item["id"] for item in profile.inspect()["cart"]["items"]] == ["mug"]
