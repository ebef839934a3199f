"""The clock every time-dependent part takes: a function returning epoch seconds.

Injected (``time.time`` by default) so that tests can drive time, and so that every
node agrees on "now" in the same unit Sailthru's ``X-Rate-Limit-Reset`` uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

Clock: TypeAlias = Callable[[], float]
