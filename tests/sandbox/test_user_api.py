"""POST, GET and DELETE /user: keys, vars, lists, opt-out, merges and lookups."""

from __future__ import annotations

from typing import Any

from sailthru.sailthru_client import SailthruClient

from sailbridge.sandbox.server import SandboxHandle


def body(response: Any) -> Any:
    return response.get_body()


def test_unknown_extid_is_not_found_with_sailthrus_message(client: SailthruClient) -> None:
    response = client.api_get("user", {"id": "ghost", "key": "extid"})

    assert response.get_status_code() == 400
    assert body(response) == {"error": 99, "errormsg": "User not found with extid: ghost"}


def test_not_found_message_names_the_key_used(client: SailthruClient) -> None:
    response = client.api_get("user", {"id": "ghost@example.com", "key": "email"})

    assert body(response)["errormsg"] == "User not found with email: ghost@example.com"


def test_post_user_creates_the_profile_with_its_keys(client: SailthruClient) -> None:
    created = body(
        client.api_post("user", {"id": "u-1", "key": "extid", "keys": {"email": "Ann@Example.com"}})
    )

    keys = body(client.api_get("user", {"id": "u-1", "key": "extid", "fields": {"keys": 1}}))[
        "keys"
    ]

    assert keys == created["keys"]
    assert keys["extid"] == "u-1" and keys["email"] == "ann@example.com"
    assert len(keys["sid"]) == 24


def test_vars_are_merged_into_existing_vars(client: SailthruClient) -> None:
    client.api_post("user", {"id": "u-1", "key": "extid", "vars": {"a": 1, "b": 2}})
    client.api_post("user", {"id": "u-1", "key": "extid", "vars": {"b": 3, "c": None}})

    got = body(client.api_get("user", {"id": "u-1", "key": "extid", "fields": {"vars": 1}}))

    assert got["vars"] == {"a": 1, "b": 3, "c": None}


def test_lists_one_adds_and_zero_removes(client: SailthruClient) -> None:
    client.api_post("user", {"id": "u-1", "key": "extid", "lists": {"News": 1, "Deals": 1}})
    client.api_post("user", {"id": "u-1", "key": "extid", "lists": {"Deals": 0}})

    got = body(client.api_get("user", {"id": "u-1", "key": "extid", "fields": {"lists": 1}}))

    assert list(got["lists"]) == ["News"]


def test_default_fields_are_keys_vars_lists_engagement_optout(client: SailthruClient) -> None:
    client.api_post("user", {"id": "u-1", "key": "extid", "optout_email": "blast"})

    got = body(client.api_get("user", {"id": "u-1", "key": "extid"}))

    assert set(got) == {"keys", "vars", "lists", "engagement", "optout_email"}
    assert got["optout_email"] == "blast"


def test_invalid_optout_value_is_error_99_and_creates_nothing(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    response = client.api_post("user", {"id": "u-1", "key": "extid", "optout_email": "some"})

    assert body(response)["error"] == 99
    assert sandbox.user("u-1") is None


def test_keys_held_by_another_profile_conflict_without_merge(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    client.api_post("user", {"id": "known", "key": "extid", "keys": {"email": "ann@example.com"}})
    client.api_post("user", {"id": "anon", "key": "extid", "vars": {"seen": 1}})

    response = client.api_post("user", {"id": "anon", "key": "extid", "keys": {"extid": "known"}})

    assert response.get_status_code() == 400
    assert body(response)["error"] == 99
    assert "conflict" in body(response)["errormsg"].lower()
    assert len(sandbox.state()["profiles"]) == 2


def test_keysconflict_merge_leaves_one_profile_with_both_histories(
    client: SailthruClient, sandbox: SandboxHandle
) -> None:
    client.api_post(
        "user",
        {
            "id": "known",
            "key": "extid",
            "keys": {"email": "ann@example.com"},
            "vars": {"plan": "pro", "color": "red"},
            "lists": {"News": 1},
        },
    )
    client.api_post("event", {"id": "known", "key": "extid", "event": "Logged In"})
    client.api_post("user", {"id": "anon", "key": "extid", "vars": {"color": "blue", "seen": 1}})
    client.api_post("event", {"id": "anon", "key": "extid", "event": "Browsed"})

    response = client.api_post(
        "user",
        {
            "id": "anon",
            "key": "extid",
            "keys": {"extid": "known", "email": "ann@example.com"},
            "keysconflict": "merge",
            "vars": {"seen": 2},
        },
    )

    assert response.is_ok(), body(response)
    profiles = sandbox.state()["profiles"]
    assert len(profiles) == 1
    merged = profiles[0]
    assert merged["keys"]["extid"] == "known" and merged["keys"]["email"] == "ann@example.com"
    assert merged["vars"] == {"plan": "pro", "color": "blue", "seen": 2}
    assert set(merged["lists"]) == {"News"}
    assert sorted(e["event"] for e in merged["events"]) == ["Browsed", "Logged In"]
    assert sandbox.user("anon") is None


def test_merge_carries_the_other_profiles_cart(
    client: SailthruClient, sandbox: SandboxHandle, item: Any
) -> None:
    client.api_post("purchase", {"email": "ann@example.com", "incomplete": 1, "items": [item()]})
    client.api_post("user", {"id": "ann@example.com", "key": "email", "keys": {"extid": "known"}})
    client.api_post("user", {"id": "anon", "key": "extid"})

    client.api_post(
        "user", {"id": "anon", "key": "extid", "keys": {"extid": "known"}, "keysconflict": "merge"}
    )

    got = body(
        client.api_get(
            "user", {"id": "known", "key": "extid", "fields": {"keys": 1, "purchase_incomplete": 1}}
        )
    )
    assert got["keys"]["email"] == "ann@example.com"
    assert [i["id"] for i in got["purchase_incomplete"]["items"]] == ["sku-1"]


def test_merge_keeps_the_stricter_optout(client: SailthruClient, sandbox: SandboxHandle) -> None:
    client.api_post("user", {"id": "known", "key": "extid", "optout_email": "all"})
    client.api_post("user", {"id": "anon", "key": "extid"})

    client.api_post(
        "user", {"id": "anon", "key": "extid", "keys": {"extid": "known"}, "keysconflict": "merge"}
    )

    assert sandbox.user("known")["optout_email"] == "all"


def test_delete_removes_the_profile(client: SailthruClient) -> None:
    client.api_post("user", {"id": "u-1", "key": "extid"})

    client.api_delete("user", {"id": "u-1", "key": "extid"})

    assert body(client.api_get("user", {"id": "u-1", "key": "extid"}))["error"] == 99


def test_delete_of_an_unknown_user_is_error_99(client: SailthruClient) -> None:
    response = client.api_delete("user", {"id": "ghost", "key": "extid"})

    assert body(response) == {"error": 99, "errormsg": "User not found with extid: ghost"}
