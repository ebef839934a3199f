"""The overview's chart: delivered and dead per minute over the last hour, as SVG
geometry computed here and drawn by the template (no JavaScript, no library)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sailbridge.store.base import MinuteCount

MINUTES = 60
WIDTH, HEIGHT = 1100, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 24
"""Margins inside the SVG for the axis labels."""


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # "delivered" | "dead"
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    plot_left: float
    plot_right: float
    plot_bottom: float
    delivered: int
    dead: int


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1
    magnitude = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def minute_chart(counts: Sequence[MinuteCount], now: float) -> Chart:
    """Stacked bars (dead on top of delivered) for the `MINUTES` minutes up to ``now``."""
    last = math.floor(now / 60) * 60
    first = last - (MINUTES - 1) * 60
    by_minute = {count.minute: count for count in counts if first <= count.minute <= last}
    peak = max((c.delivered + c.dead for c in by_minute.values()), default=0)
    top = nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / MINUTES
    bars: list[Bar] = []
    for index in range(MINUTES):
        minute = first + index * 60
        count = by_minute.get(minute)
        if count is None:
            continue
        x = LEFT + index * slot + 1
        label = datetime.fromtimestamp(minute, UTC).strftime("%H:%M")
        base: float = TOP + plot_h
        for kind, value in (("delivered", count.delivered), ("dead", count.dead)):
            if value:
                height = plot_h * value / top
                bars.append(
                    Bar(
                        x,
                        base - height,
                        max(slot - 2, 1),
                        height,
                        kind,
                        f"{label} UTC: {value} {kind}",
                    )
                )
                base -= height
    y_ticks = [
        Tick(TOP + plot_h * (1 - fraction), f"{round(top * fraction):,}")
        for fraction in (0, 0.5, 1)
    ]
    x_ticks = [
        Tick(LEFT + index * slot, datetime.fromtimestamp(first + index * 60, UTC).strftime("%H:%M"))
        for index in range(0, MINUTES, 10)
    ]
    return Chart(
        WIDTH,
        HEIGHT,
        bars,
        y_ticks,
        x_ticks,
        LEFT,
        WIDTH - RIGHT,
        TOP + plot_h,
        sum(c.delivered for c in by_minute.values()),
        sum(c.dead for c in by_minute.values()),
    )
