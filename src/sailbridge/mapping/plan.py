"""What the pure mapping returns: the calls to make, a lookup it needs first, or a verdict.

These types are the contract between the pure mapping (``sailbridge.mapping``) and the
code that does I/O (``sailbridge.delivery.executor``). Mapping never performs a request; when it
needs a fact only Sailthru or sailbridge's memory knows (an email, the current cart,
whether an anonymous profile exists), it returns a `Lookup` naming the fact, and the
executor calls it again with that fact filled in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeAlias

from sailbridge.sailthru.calls import Call

if TYPE_CHECKING:
    from sailbridge.mapping.var_names import Rename

Item = dict[str, Any]
"""A purchase item in the shape POST /purchase takes (price in integer cents)."""


class Unknown(Enum):
    """Marks a fact nobody has looked up yet (distinct from a looked-up ``None``)."""

    UNKNOWN = "unknown"


UNKNOWN = Unknown.UNKNOWN


class ProfileState(Enum):
    """What is known of an anonymous profile an identify may merge."""

    EXISTS = "exists"
    ABSENT = "absent"
    ALREADY_MERGED = "already merged"


@dataclass(frozen=True)
class Facts:
    """Facts the mapping may need beyond the event itself; `UNKNOWN` until looked up.

    ``email`` is ``None`` when it was looked up and Sailthru has none. ``cart`` is the
    user's incomplete purchase in POST shape, ``()`` when empty. ``cart_age`` is how
    many seconds ago that cart last changed, when known (read with the cart).
    """

    email: str | Unknown | None = UNKNOWN
    cart: tuple[Item, ...] | Unknown = UNKNOWN
    anonymous_profile: ProfileState | Unknown = UNKNOWN
    cart_age: float | None = None


@dataclass(frozen=True)
class EmailLookup:
    """The email of the profile whose extid is ``user_id`` (memory first, then GET /user)."""

    user_id: str


@dataclass(frozen=True)
class CartLookup:
    """The incomplete cart (and email) of extid ``user_id`` (fresh memory, else GET /user)."""

    user_id: str


@dataclass(frozen=True)
class ProfileLookup:
    """Whether a profile with extid ``anonymous_id`` exists and is not yet merged into
    ``user_id`` (memory of resolved pairs first, then GET /user)."""

    anonymous_id: str
    user_id: str


LookupRequest: TypeAlias = EmailLookup | CartLookup | ProfileLookup


@dataclass(frozen=True)
class RememberEmail:
    user_key: str
    email: str


@dataclass(frozen=True)
class RememberCart:
    user_id: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class RememberMerge:
    anonymous_id: str
    user_id: str


@dataclass(frozen=True)
class ForgetUser:
    """The user was deleted in Sailthru: forget everything sailbridge holds about them.

    Their email, cart and merges (both directions, and the ids merged with them), and
    the stored payloads and history of their finished events. Applied when the
    ``DELETE /user`` succeeded, so a failed deletion forgets nothing.
    """

    user_key: str


MemoryUpdate: TypeAlias = RememberEmail | RememberCart | RememberMerge | ForgetUser


@dataclass(frozen=True)
class Deliver:
    """Make these calls in order; once all succeed, apply ``remember`` to the memory."""

    calls: tuple[Call, ...]
    remember: tuple[MemoryUpdate, ...] = ()
    notes: tuple[str, ...] = ()
    """What the mapping decided from facts that the calls alone do not show (a stale
    cart cleared); ``explain`` and the console's tester list them."""
    renamed: tuple[Rename, ...] = ()
    """Each var sent under a name Sailthru accepts instead of its own
    (`sailbridge.mapping.var_names.Rename`), for ``explain`` and the tester."""


@dataclass(frozen=True)
class Lookup:
    """Resolve this fact, then plan again."""

    request: LookupRequest


@dataclass(frozen=True)
class Skip:
    """Nothing to send, by design (e.g. a group call, or Sailthru turned off for the event)."""

    reason: str


@dataclass(frozen=True)
class Fail:
    """The event can never be delivered as it is; ``reason`` says what to change."""

    reason: str


Plan: TypeAlias = Deliver | Lookup | Skip | Fail
