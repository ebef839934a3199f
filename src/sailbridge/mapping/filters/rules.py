"""A destination filter rule as data: a name, an optional condition and one action."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from sailbridge.mapping.filters.conditions import Condition, Test, compile_condition


class FilterError(ValueError):
    """A rule written wrong; the message names the rule and what to change."""


Action = Literal["drop", "only_send", "sample", "drop_fields", "keep_fields"]
ACTIONS: Final[tuple[str, ...]] = ("drop", "only_send", "sample", "drop_fields", "keep_fields")


@dataclass(frozen=True)
class Rule:
    """One destination filter. ``when`` ``None``: every event. ``share`` is the sampled
    fraction (``sample``); ``fields`` the paths dropped or kept. ``test`` is ``when``
    compiled once (`compile_condition`), which is what runs for each event."""

    name: str
    action: Action
    when: Condition | None = None
    share: float = 1.0
    fields: tuple[tuple[str, ...], ...] = ()
    test: Test | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.test is None and self.when is not None:
            object.__setattr__(self, "test", compile_condition(self.when))


@dataclass(frozen=True)
class FilterSet:
    """The destination's rules, in the order they run."""

    rules: tuple[Rule, ...] = ()


NO_FILTERS: Final = FilterSet()
