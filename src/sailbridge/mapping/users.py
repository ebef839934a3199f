"""Profile events → POST/DELETE /user: identify, alias, Subscribed, User Deleted (SPEC §4).

Every profile is addressed by extid (``key: extid``): the Segment userId, else the
anonymousId, which is what lets later events find the same Sailthru profile.
"""

from __future__ import annotations

from typing import Any

from sailbridge.events import Event
from sailbridge.flatten import flatten
from sailbridge.mapping.context import identify_traits
from sailbridge.mapping.errors import Unmappable
from sailbridge.mapping.options import OPTOUT_VALUES, MappingOptions
from sailbridge.mapping.plan import (
    UNKNOWN,
    Deliver,
    Facts,
    ForgetUser,
    Lookup,
    MemoryUpdate,
    Plan,
    ProfileLookup,
    ProfileState,
    RememberEmail,
    RememberMerge,
    Skip,
)
from sailbridge.mapping.routing import Overrides, read_overrides, require_user_key
from sailbridge.mapping.values import text
from sailbridge.sailthru.calls import Call

EXTID = "extid"


def plan_identify(event: Event, options: MappingOptions, facts: Facts) -> Plan:
    """Create or update the profile; first merge an anonymous profile into it if needed.

    An identify with a userId and a different anonymousId may be the moment a visitor
    logs in. Their anonymous profile (extid = anonymousId) must then be merged into the
    known one, so whether it exists is looked up unless already known.
    """
    key = require_user_key(event)
    traits = identify_traits(event)
    email = text(traits.get("email"))
    profile = _profile_fields(event, traits, options)
    remember: tuple[MemoryUpdate, ...] = (RememberEmail(key, email),) if email else ()
    anonymous_id = event.anonymous_id
    if event.user_id is None or anonymous_id is None or anonymous_id == event.user_id:
        return _post_user(key, email, profile, remember)
    state = facts.anonymous_profile
    if state is UNKNOWN:
        return Lookup(ProfileLookup(anonymous_id, event.user_id))
    resolved = (*remember, RememberMerge(anonymous_id, event.user_id))
    if state is ProfileState.ABSENT:
        return _post_user(key, email, profile, resolved)
    if state is ProfileState.ALREADY_MERGED:
        return _post_user(key, email, profile, remember)
    merge = {
        "id": anonymous_id,
        "key": EXTID,
        "keys": {EXTID: event.user_id, **({"email": email} if email else {})},
        "keysconflict": "merge",
        **profile,
    }
    return Deliver(calls=(Call("POST", "/user", merge),), remember=resolved)


def plan_alias(event: Event) -> Plan:
    """Merge the profile of ``previousId`` into the one of ``userId``."""
    previous_id, user_id = event.previous_id, event.user_id
    if previous_id is None or user_id is None:
        raise Unmappable("alias needs both a previousId and a userId")
    if previous_id == user_id:
        return Skip("alias previousId equals userId; there is nothing to merge")
    params = {"id": previous_id, "key": EXTID, "keys": {EXTID: user_id}, "keysconflict": "merge"}
    return Deliver(
        calls=(Call("POST", "/user", params),),
        remember=(RememberMerge(previous_id, user_id),),
    )


def plan_subscribed(event: Event, list_name: str) -> Plan:
    """Add the user to ``list_name`` and opt them back in: they asked to subscribe.

    This is the one place ``optout_email: none`` is sent without being configured,
    because here it is the person's own, explicit request.
    """
    params = {
        "id": require_user_key(event),
        "key": EXTID,
        "lists": {list_name: 1},
        "optout_email": "none",
    }
    return Deliver(calls=(Call("POST", "/user", params),))


def plan_user_deleted(event: Event) -> Plan:
    """Delete the profile whose extid is the user key, then forget the person."""
    key = require_user_key(event)
    return Deliver(
        calls=(Call("DELETE", "/user", {"id": key, "key": EXTID}),), remember=(ForgetUser(key),)
    )


def _profile_fields(
    event: Event, traits: dict[str, Any], options: MappingOptions
) -> dict[str, Any]:
    """``vars``, ``lists`` and ``optout_email`` of an identify, each only when it has a
    value; ``traits`` are the identify's merged traits (`identify_traits`)."""
    overrides = read_overrides(event)
    fields: dict[str, Any] = {}
    flat = flatten(traits)
    if flat:
        fields["vars"] = flat
    list_name = overrides.default_list_name or text(options.default_list_name)
    if list_name is not None:
        fields["lists"] = {list_name: 1}
    optout = _optout(overrides, options)
    if optout is not None:
        fields["optout_email"] = optout
    return fields


def _optout(overrides: Overrides, options: MappingOptions) -> str | None:
    """The opt-out level to set, or ``None`` to leave the user's level alone.

    Never defaults to ``none``: Sailthru reads ``none`` as "opt this person back in",
    which would re-subscribe everyone who unsubscribed at their next identify.
    """
    if overrides.optout_value is not None:
        value, source = overrides.optout_value, "the integrations.Sailthru override"
    elif text(options.optout_value) is not None:
        value, source = str(options.optout_value), "the optout value setting"
    else:
        return None
    level = value.strip().lower()
    if level not in OPTOUT_VALUES:
        raise Unmappable(
            f"optout value {value!r} (from {source}) is not one of {', '.join(OPTOUT_VALUES)}"
        )
    return level


def _post_user(
    key: str, email: str | None, profile: dict[str, Any], remember: tuple[MemoryUpdate, ...]
) -> Deliver:
    params: dict[str, Any] = {"id": key, "key": EXTID}
    if email is not None:
        params["keys"] = {"email": email}
    return Deliver(calls=(Call("POST", "/user", params | profile),), remember=remember)
