"""The users an event must queue behind to keep each user's events in order (SPEC §7)."""

from __future__ import annotations

from sailbridge.events import Event


def ordering_keys(event: Event) -> tuple[str, ...]:
    """The user key, plus the other profile a merge folds in.

    An identify that merges an anonymousId, and an alias of a previousId, must also
    wait for events still pending under that other id: delivered after the merge they
    would re-create the orphan profile the merge removed.
    """
    keys = [event.user_key]
    if event.type == "identify" and event.user_id is not None:
        keys.append(event.anonymous_id)
    if event.type == "alias":
        keys.append(event.previous_id)
    return tuple(dict.fromkeys(key for key in keys if key is not None))
