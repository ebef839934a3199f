"""The users an event must queue behind to keep each user's events in order (SPEC §7)."""

from __future__ import annotations

from typing import Protocol

from sailbridge.events import EventType


class Keyed(Protocol):
    """What ordering needs of an event: a `sailbridge.events.Event`, or ingest's typed
    wire form of one (`sailbridge.intake.fastpath.WireEvent`)."""

    @property
    def type(self) -> str | None: ...

    @property
    def user_id(self) -> str | None: ...

    @property
    def anonymous_id(self) -> str | None: ...

    @property
    def previous_id(self) -> str | None: ...

    @property
    def user_key(self) -> str | None: ...


def ordering_keys(event: Keyed) -> tuple[str, ...]:
    """The user key, plus the other profile a merge folds in.

    An identify that merges an anonymousId, and an alias of a previousId, must also
    wait for events still pending under that other id: delivered after the merge they
    would re-create the orphan profile the merge removed.
    """
    keys = [event.user_key]
    if event.type == EventType.IDENTIFY and event.user_id is not None:
        keys.append(event.anonymous_id)
    if event.type == EventType.ALIAS:
        keys.append(event.previous_id)
    return tuple(dict.fromkeys(key for key in keys if key is not None))
