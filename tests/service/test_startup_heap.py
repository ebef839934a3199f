"""`serve` leaves the heap it started with out of the collector's full passes."""

from __future__ import annotations

import gc

from sailbridge.service import freeze_startup_heap


def test_start_up_objects_are_frozen_and_later_ones_still_collected() -> None:
    settings_like = {"routes": ["/v1/t"]}  # a container built at start-up
    try:
        freeze_startup_heap()
        later = {"request": []}  # one made while serving
        tracked = gc.get_objects()
        assert gc.get_freeze_count() > 0
        assert not any(item is settings_like for item in tracked)
        assert any(item is later for item in tracked)
    finally:
        gc.unfreeze()
