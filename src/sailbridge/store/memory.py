"""What sailbridge remembers between events: learned emails, last-posted carts, merges.

Sailthru's GET lags its POSTs, and its purchase API cannot find a user by extid, so
sailbridge keeps its own record of what it told Sailthru. The contract is async so the
PostgreSQL store implements it as well as the SQLite one (whose SQL is in
`sailbridge.store.sqlite.memory`); both forget a person's merged ids by `linked_ids`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sailbridge.mapping.plan import Item, MemoryUpdate
from sailbridge.settings.accounts import DEFAULT_ACCOUNT


@dataclass(frozen=True)
class RememberedCart:
    """The cart sailbridge last posted for a user, and when (epoch seconds).

    The time is the cart's age for ``clearIncompleteCartAfterNHours``, as
    ``purchase_incomplete.time`` is for a cart read back from Sailthru.
    """

    items: tuple[Item, ...]
    posted_at: float


@dataclass(frozen=True)
class Forgotten:
    """What forgetting a person removed (returned to the operator, never stored)."""

    user_keys: tuple[str, ...]
    """The id forgotten first, then the ids merged with it (one merge away)."""
    emails: int
    """Distinct remembered emails of those ids (each deleted wherever remembered)."""
    jobs: int
    """Finished jobs (delivered, skipped, dead) deleted with their payload and history."""
    rejections: int
    """Events rejected at ingest that mentioned one of the ids or emails."""


class Memory(Protocol):
    """The facts sailbridge learned from the events it delivered."""

    async def email(self, user_key: str) -> str | None:
        """The email last identified for ``user_key``, or ``None`` when never seen."""

    async def cart(self, user_id: str, max_age: float) -> RememberedCart | None:
        """The cart last posted for ``user_id`` if posted within ``max_age`` seconds."""

    async def merged(self, anonymous_id: str, user_id: str) -> bool:
        """Whether this anonymous → known pair was already resolved."""

    async def apply(self, updates: Sequence[MemoryUpdate]) -> None:
        """Record what a delivered event taught us, atomically; a `ForgetUser` forgets
        the person as `sailbridge.store.base.Store.forget` describes."""


class AccountsMemory(Protocol):
    """Memory as a store keeps it: one per account (a profile in one Sailthru account is
    not a profile in another). `account_memory` binds it to one account as a `Memory`;
    without ``account`` it is the account ``default``'s."""

    async def email(self, user_key: str, *, account: str = DEFAULT_ACCOUNT) -> str | None: ...

    async def cart(
        self, user_id: str, max_age: float, *, account: str = DEFAULT_ACCOUNT
    ) -> RememberedCart | None: ...

    async def merged(
        self, anonymous_id: str, user_id: str, *, account: str = DEFAULT_ACCOUNT
    ) -> bool: ...

    async def apply(
        self, updates: Sequence[MemoryUpdate], *, account: str = DEFAULT_ACCOUNT
    ) -> None: ...


class AccountMemory:
    """One account's `Memory` in a store: what a delivery for that account reads and
    teaches (the executor and ``explain`` see only this)."""

    def __init__(self, memory: AccountsMemory, account: str) -> None:
        self._memory = memory
        self.account = account

    async def email(self, user_key: str) -> str | None:
        return await self._memory.email(user_key, account=self.account)

    async def cart(self, user_id: str, max_age: float) -> RememberedCart | None:
        return await self._memory.cart(user_id, max_age, account=self.account)

    async def merged(self, anonymous_id: str, user_id: str) -> bool:
        return await self._memory.merged(anonymous_id, user_id, account=self.account)

    async def apply(self, updates: Sequence[MemoryUpdate]) -> None:
        await self._memory.apply(updates, account=self.account)


def linked_ids(merges: Sequence[tuple[str, str]], user_key: str) -> tuple[str, ...]:
    """``user_key`` first, then every id merged with it in either direction.

    One merge away only: an anonymous id shared by two people (one device) would
    otherwise chain the forgetting of one into the forgetting of the other.
    """
    found = dict.fromkeys([user_key])
    for anonymous_id, user_id in merges:
        found.update(dict.fromkeys((anonymous_id, user_id)))
    return tuple(found)


def merge_forgotten(user_key: str, parts: Sequence[Forgotten]) -> Forgotten:
    """What forgetting ``user_key`` removed in several accounts, added up: the ids
    (``user_key`` first) without repeats, the counts summed."""
    keys = dict.fromkeys([user_key])
    for part in parts:
        keys.update(dict.fromkeys(part.user_keys))
    return Forgotten(
        tuple(keys),
        sum(part.emails for part in parts),
        sum(part.jobs for part in parts),
        sum(part.rejections for part in parts),
    )
