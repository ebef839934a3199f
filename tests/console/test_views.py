"""The console's pure parts: the chart's geometry, times, the login's redirect target."""

from __future__ import annotations

import pytest

from sailbridge.render import duration
from sailbridge.server.console import views
from sailbridge.server.console.auth import safe_next, session_key, token_matches
from sailbridge.server.console.chart import MINUTES, minute_chart, nice_ceiling
from sailbridge.server.console.views import when
from sailbridge.store.base import MinuteCount

NOW = 1_800_000_030.0  # 30 s into a minute


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (10, 10), (11, 20), (26, 50), (999, 1000)],
)
def test_the_chart_scale_rounds_up_to_1_2_or_5(value: int, ceiling: int) -> None:
    assert nice_ceiling(value) == ceiling


def test_the_chart_stacks_dead_on_delivered_for_the_last_hour_only() -> None:
    last = NOW // 60 * 60
    counts = [
        MinuteCount(last, 8, 2),
        MinuteCount(last - 60 * 10, 5, 0),
        MinuteCount(last - 60 * MINUTES, 100, 100),
    ]  # an hour ago: left out

    chart = minute_chart(counts, NOW)

    assert (chart.delivered, chart.dead) == (13, 2)
    assert [bar.kind for bar in chart.bars] == ["delivered", "delivered", "dead"]
    delivered_now, dead_now = chart.bars[1], chart.bars[2]
    assert dead_now.y + dead_now.height == pytest.approx(delivered_now.y)  # stacked
    assert delivered_now.height == pytest.approx(4 * dead_now.height)
    assert chart.y_ticks[-1].label == "10"
    assert max(bar.x for bar in chart.bars) < chart.plot_right


def test_an_empty_hour_draws_no_bars() -> None:
    chart = minute_chart([], NOW)
    assert chart.bars == [] and chart.y_ticks[-1].label == "1"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "0 s"),
        (59, "59 s"),
        (61, "1 min"),
        (3600, "1 h"),
        (3725, "1 h 2 min"),
        (86400 * 2 + 3600 * 4, "2 d 4 h"),
        (-5, "0 s"),
    ],
)
def test_durations_read_in_two_units_at_most(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_a_moment_reads_as_utc_time_and_how_long_ago() -> None:
    shown = when(NOW - 125.25, NOW)
    assert shown is not None
    assert shown.text == "2027-01-15 07:58:24 UTC"
    assert shown.ago == "2 min ago"
    assert shown.precise == "07:58:24.750"
    assert when(NOW + 20, NOW).ago == "in 20 s"  # type: ignore[union-attr]
    assert when(None, NOW) is None


@pytest.mark.parametrize(
    ("given", "target"),
    [
        ("/console/events?state=dead", "/console/events?state=dead"),
        ("https://evil.example/", "/console/"),
        ("//evil.example/console", "/console/"),
        ("/admin/status", "/console/"),
        (None, "/console/"),
        ("/console\\@evil", "/console/"),
    ],
)
def test_after_login_only_console_paths_are_followed(given: str | None, target: str) -> None:
    assert safe_next(given) == target


def test_the_session_key_is_bound_to_the_token_and_is_not_the_token() -> None:
    token = "an-admin-token-of-some-length"
    assert session_key(token) == session_key(token)
    assert session_key(token) != session_key(token + "x")
    assert token not in session_key(token)
    assert token_matches(token, token) and not token_matches("nope", token)


def test_events_sent_together_link_to_each_other_and_the_rest_is_escaped() -> None:
    assert str(views.job_links("sent together with #12, #13")) == (
        'sent together with <a href="/console/events/12">#12</a>, '
        '<a href="/console/events/13">#13</a>'
    )
    assert str(views.job_links("<b>#7</b>")) == (
        '&lt;b&gt;<a href="/console/events/7">#7</a>&lt;/b&gt;'
    )
