"""Reading the ``json`` parameters of /user, /event and pageview calls.

Each function checks one parameter and returns it in the shape the `Account` works
with, or raises the `ApiError` Sailthru would answer; the account runs them all
before it changes anything, so a refused call leaves no partial change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sailbridge.sandbox.errors import INVALID_EMAIL, ApiError, invalid, missing
from sailbridge.sandbox.profile import KEY_TYPES, SETTABLE_KEYS
from sailbridge.sandbox.purchases import is_email


def key_type(params: Mapping[str, Any], default: str) -> str:
    """The ``key`` the call looks its user up by (the route's default when absent)."""
    key = params.get("key", default)
    if key not in KEY_TYPES:
        raise invalid(f"Invalid key: {key!r} (the sandbox knows sid, email and extid)")
    return str(key)


def _id_string(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise invalid(f"id must be a non-empty string, not {value!r}")
    return str(value)


def optional_id(params: Mapping[str, Any], key: str) -> str | None:
    """POST /user's ``id``: absent creates a new profile."""
    if params.get("id") is None:
        return None
    ident = _id_string(params["id"])
    check_creatable(key, ident)
    return ident


def required_id(params: Mapping[str, Any]) -> str:
    """The ``id`` of a call that must name its user."""
    if params.get("id") is None or params.get("id") == "":
        raise missing("id")
    return _id_string(params["id"])


def check_creatable(key: str, ident: str) -> None:
    """Refuse to file a profile under an email address Sailthru would not take."""
    if key == "email" and not is_email(ident):
        raise ApiError(INVALID_EMAIL, f"Invalid email: {ident}")


def new_keys(value: Any) -> dict[str, str]:
    """POST /user's ``keys``: the email (lower-cased) and extid to set; never the sid."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("keys must be an object of key type → value")
    keys: dict[str, str] = {}
    for name, raw in value.items():
        if name == "sid":
            raise invalid("The sid key is assigned by Sailthru and cannot be set")
        if name not in SETTABLE_KEYS:
            raise invalid(f"Invalid key: {name!r} (the sandbox can set email and extid)")
        ident = _id_string(raw)
        check_creatable(name, ident)
        keys[name] = ident.lower() if name == "email" else ident
    return keys


def object_param(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    """An object parameter such as ``vars`` (empty when absent)."""
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{name} must be an object")
    return dict(value)


def list_changes(value: Any) -> dict[str, bool]:
    """POST /user's ``lists``: list name → subscribe (1) or unsubscribe (0)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("lists must be an object of list name → 1 or 0")
    changes: dict[str, bool] = {}
    for name, flag in value.items():
        if flag in (1, "1", True) and not isinstance(flag, float):
            changes[name] = True
        elif flag in (0, "0", False) and not isinstance(flag, float):
            changes[name] = False
        else:
            raise invalid(f"lists.{name} must be 1 (add) or 0 (remove), not {flag!r}")
    return changes


def fields_param(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``fields`` to answer with, ``None`` when the call names none."""
    fields = params.get("fields")
    if fields is None:
        return None
    if not isinstance(fields, dict):
        raise invalid('fields must be an object like {"keys": 1}')
    return fields


def not_found(key: str, ident: str) -> ApiError:
    """Sailthru's answer for a user nobody holds."""
    return invalid(f"User not found with {key}: {ident}")
