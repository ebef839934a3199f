"""Mapping benchmark: `plan_event` alone, in this process, events per CPU-second.

The pure mapping runs once per event in delivery, in ``explain`` and in ``backfill``
(millions of times there). Input: identifies with nested traits, custom tracks with
nested properties and Order Completed with three products (a third each; the facts
they look up are given, so each plan is one call). Names are those real sources send:
valid ones (the common case, which renaming only checks) and, with ``--odd``, some
Sailthru refuses (``utm-source``, ``1st_visit``), which renaming rewrites.

    python bench/mapping.py [--events 60000] [--odd]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from sailbridge.events import Event, event_from_dict
from sailbridge.mapping import plan_event
from sailbridge.mapping.options import MappingOptions
from sailbridge.mapping.plan import Facts


def events(count: int, odd: bool) -> list[Event]:
    extra: dict[str, Any] = {"utm-source": "ads", "1st_visit": "2024"} if odd else {}
    made = []
    for n in range(count):
        user = f"user-{n}"
        match n % 3:
            case 0:
                raw = {
                    "type": "identify",
                    "userId": user,
                    "traits": {
                        "email": f"{user}@example.com",
                        "name": "Ada",
                        "plan": "pro",
                        "address": {"city": "London", "postal_code": "N1"},
                        **extra,
                    },
                }
            case 1:
                raw = {
                    "type": "track",
                    "userId": user,
                    "event": "Played Game",
                    "properties": {
                        "levels": [1, 2, 3],
                        "arcade": {"galaxy": {"coordinates": "1.2"}},
                        **extra,
                    },
                }
            case _:
                raw = {
                    "type": "track",
                    "userId": user,
                    "event": "Order Completed",
                    "properties": {
                        "order_id": f"o-{n}",
                        "total": 30,
                        **extra,
                        "email": f"{user}@example.com",
                        "products": [
                            {
                                "product_id": f"p{i}",
                                "name": "Mug",
                                "price": 10,
                                "url": "https://shop/p",
                                "color": "blue",
                            }
                            for i in range(3)
                        ],
                    },
                }
        made.append(event_from_dict({"messageId": f"m-{n}", **raw}))
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument(
        "--odd", action="store_true", help="add two var names Sailthru refuses to every event"
    )
    args = parser.parse_args()
    batch = events(args.events, args.odd)
    options, facts = MappingOptions(), Facts(email="known@example.com")
    started = time.process_time()
    for event in batch:
        plan_event(event, options, facts)
    spent = time.process_time() - started
    print(
        f"mapping: {args.events / spent:.0f} events per CPU-second "
        f"({args.events} events, odd names: {args.odd})"
    )


if __name__ == "__main__":
    main()
