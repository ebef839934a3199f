"""What the events of one request share: who sent them, when, to which endpoint.

An `Arrival` travels with a request's events through the intake (`Sorter.sort`, the
general path, the fast path's `to_job`) instead of the same handful of parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from sailbridge.events import format_time
from sailbridge.intake.rules import NO_SHARED, Shared


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request's events' common facts.

    ``kind`` is a single-event endpoint's type (``None``: each event says its own);
    ``shared`` the batch's fields that apply to each event; ``repaired``: the body was
    already rewritten by `repair_json` (see `sorting.decode_event`)."""

    write_key: str
    received: Received
    kind: str | None = None
    shared: Shared = NO_SHARED
    repaired: bool = False


class Received:
    """The receive time of one request: epoch seconds, Segment's ISO text of it, and
    (made only when the general path asks) the datetime."""

    __slots__ = ("_moment", "epoch", "text")

    def __init__(self, epoch: float, text: TimeText | None = None) -> None:
        self.epoch = epoch
        self._moment: datetime | None = None
        self.text = (text or TimeText())(epoch)

    @property
    def moment(self) -> datetime:
        if self._moment is None:
            self._moment = datetime.fromtimestamp(self.epoch, UTC)
        return self._moment


class TimeText:
    """`format_time` for a stream of receive times: ``strftime`` is the slow part and
    its output changes once a second, so each second's prefix is formatted once."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, epoch: float) -> str:
        fraction, whole = math.modf(epoch)
        second, micros = int(whole), round(fraction * 1e6)  # as datetime.fromtimestamp
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        if second != self._second:
            self._second = second
            moment = datetime.fromtimestamp(second, UTC)
            self._prefix = format_time(moment)[:-4]  # "...:SS." without "000Z"
        return f"{self._prefix}{micros // 1000:03d}Z"
