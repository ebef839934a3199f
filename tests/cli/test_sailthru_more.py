"""Issue 21 through `sailbridge send` and `sailbridge explain`, real processes, the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sailbridge.sandbox.server import SandboxHandle

from .test_explain import explain
from .test_send import sailbridge, write_jsonl

MUG: dict[str, Any] = {
    "product_id": "mug",
    "name": "Mug",
    "price": 12.5,
    "quantity": 2,
    "url": "https://shop/mug",
}
BUYER = {"type": "identify", "userId": "u-1", "traits": {"email": "u1@example.com"}}


def track(name: str, properties: dict[str, Any], user: str = "u-1") -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": name, "properties": properties}


def test_send_files_a_refund_as_a_return(sandbox: SandboxHandle, tmp_path: Path) -> None:
    events = [
        BUYER,
        track("Order Completed", {"order_id": "o-1", "products": [MUG]}),
        track("Order Refunded", {"order_id": "o-1", "products": [MUG]}),
        track("Order Refunded", {"order_id": "o-1"}),
    ]
    result = sailbridge(
        ["send", "--json", str(write_jsonl(tmp_path / "e.jsonl", events))], sandbox, tmp_path
    )
    summary = json.loads(result.stdout)
    assert (summary["delivered"], summary["failed"]) == (3, 1), result.stdout + result.stderr
    assert "needs the returned items" in summary["events"][3]["reason"]
    profile = sandbox.user("u-1")
    assert profile is not None and profile["net_revenue"] == 0
    assert profile["returns"][0]["items"][0]["price"] == 1250


def test_explain_shows_the_return(tmp_path: Path) -> None:
    [_, view] = explain(
        "\n".join(
            json.dumps(e)
            for e in [BUYER, track("Order Refunded", {"order_id": "o-1", "products": [MUG]})]
        ),
        tmp_path,
    )
    [call] = view["calls"]
    assert call["url"].endswith("/return")
    assert call["params"]["email"] == "u1@example.com"
    assert call["params"]["purchase_keys"] == {"extid": "o-1"}


def test_send_starts_a_stale_cart_afresh(sandbox: SandboxHandle, tmp_path: Path) -> None:
    sandbox.configure(clock_offset=-30 * 3600)
    first = sailbridge(
        [
            "send",
            str(
                write_jsonl(
                    tmp_path / "a.jsonl",
                    [BUYER, track("Product Added", {**MUG, "product_id": "old"})],
                )
            ),
        ],
        sandbox,
        tmp_path,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    sandbox.configure(clock_offset=0)
    # A new store (no remembered cart): the age is the one Sailthru returns.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    later = sailbridge(
        [
            "send",
            str(
                write_jsonl(
                    tmp_path / "b.jsonl",
                    [track("Product Added", {**MUG, "clearIncompleteCartAfterNHours": 24})],
                )
            ),
        ],
        sandbox,
        elsewhere,
    )
    assert later.returncode == 0, later.stdout + later.stderr
    profile = sandbox.user("u-1")
    assert profile is not None
    assert [item["id"] for item in profile["cart"]["items"]] == ["mug"]


def test_explain_warns_of_an_unusable_expiry_and_notes_a_cleared_cart(tmp_path: Path) -> None:
    [view] = explain(
        json.dumps(
            track(
                "Product Added",
                {**MUG, "email": "u1@example.com", "clearIncompleteCartAfterNHours": "soon"},
            )
        ),
        tmp_path,
    )
    assert view["outcome"] == "deliver"
    assert any("clearIncompleteCartAfterNHours is ignored" in w for w in view["warnings"])


def test_send_renames_vars_and_explain_lists_each_rename(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    odd = {"type": "identify", "userId": "u-2", "traits": {"1st_visit": "2024", "a-b": 1}}
    refused = sailbridge(
        ["send", str(write_jsonl(tmp_path / "a.jsonl", [odd]))],
        sandbox,
        tmp_path,
        SAILBRIDGE_RENAME_VARS="false",
    )
    assert refused.returncode == 1 and "Invalid variable name" in refused.stdout
    sent = sailbridge(["send", str(write_jsonl(tmp_path / "b.jsonl", [odd]))], sandbox, tmp_path)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sandbox.user("u-2")["vars"] == {"var_1st_visit": "2024", "ab": 1}  # type: ignore[index]

    [view] = explain(json.dumps(odd), tmp_path)
    assert view["renamed"] == [
        {"where": "POST /user vars", "from": "1st_visit", "to": "var_1st_visit"},
        {"where": "POST /user vars", "from": "a-b", "to": "ab"},
    ]
    [unrenamed] = explain(json.dumps(odd), tmp_path, SAILBRIDGE_RENAME_VARS="false")
    assert "renamed" not in unrenamed
