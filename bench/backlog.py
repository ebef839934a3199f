"""Backlog benchmark: a realistic mix queued while delivery is off, then drained at
Sailthru's default limits, one call per event and coalesced, in the same run.

The mix, per user (users' events interleaved at random, each user's in order): one
to five identifies (the first with an email), a cart session of two to six Product
Added / Removed events, for some users a custom track event or two, an order, and a
last identify. The sandbox and `sailbridge serve` run as separate processes; an
``--ingest-only`` node queues the mix, then a ``--delivery-only`` node drains it with
``SAILBRIDGE_COALESCING`` off, then on (a fresh store and a reset sandbox each time).

Reported per mode: the drain time (first to last Sailthru call), calls per route,
events per call on the profile (identify → POST /user) and cart (cart events → cart
posts) traffic; then the ratios, and whether the final sandbox state (every profile's
keys, vars, lists, cart, purchases, events) is identical.
Targets: ≥ 2 events per call on profile and cart traffic, drain ≤ half the time.

    python bench/backlog.py [--users 300] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from delivery import ADMIN_TOKEN, WRITE_KEY, free_port, get_json, wait_healthy

CART_EVENTS = ("Product Added", "Product Removed")


def user_session(rng: random.Random, user: str) -> list[dict[str, Any]]:
    """One user's events, in the order they happened."""
    email = f"{user}@example.com"
    events: list[dict[str, Any]] = []
    for n in range(rng.randint(1, 5)):
        traits: dict[str, Any] = {"plan": rng.choice(["free", "pro", "team"]), "visits": n}
        if n == 0:
            traits |= {"email": email, "name": user.title()}
        events.append({"type": "identify", "userId": user, "traits": traits})
    cart: Counter[str] = Counter()
    for _ in range(rng.randint(2, 6)):
        if cart and rng.random() < 0.3:
            product = rng.choice(sorted(cart))
            cart[product] -= 1
            cart += Counter()  # drop zeros
            events.append(
                {
                    "type": "track",
                    "userId": user,
                    "event": "Product Removed",
                    "properties": {"product_id": product, "quantity": 1},
                }
            )
        else:
            product = f"sku-{rng.randint(1, 12)}"
            cart[product] += 1
            events.append(
                {
                    "type": "track",
                    "userId": user,
                    "event": "Product Added",
                    "properties": {
                        "product_id": product,
                        "name": product.upper(),
                        "price": rng.choice([4.99, 12.5, 30]),
                        "quantity": 1,
                        "url": f"https://shop.example/{product}",
                    },
                }
            )
    if rng.random() < 0.3:
        for _ in range(rng.randint(1, 2)):
            events.append(
                {
                    "type": "track",
                    "userId": user,
                    "event": "Article Read",
                    "properties": {"article": rng.randint(1, 99)},
                }
            )
    if rng.random() < 0.25:
        events.append(
            {
                "type": "track",
                "userId": user,
                "event": "Order Completed",
                "properties": {
                    "order_id": f"o-{user}",
                    "products": [
                        {
                            "product_id": "sku-1",
                            "price": 10,
                            "quantity": 1,
                            "url": "https://shop.example/sku-1",
                        }
                    ],
                },
            }
        )
    if rng.random() < 0.5:
        events.append({"type": "identify", "userId": user, "traits": {"last_seen": "today"}})
    return events


def mix(users: int, seed: int) -> list[dict[str, Any]]:
    """Every user's session, interleaved at random (each user's order kept)."""
    rng = random.Random(seed)
    sessions = [user_session(rng, f"user{n:04d}") for n in range(users)]
    slots = [index for index, session in enumerate(sessions) for _ in session]
    rng.shuffle(slots)
    cursors = [0] * len(sessions)
    events = []
    for index in slots:
        event = sessions[index][cursors[index]]
        cursors[index] += 1
        events.append({**event, "messageId": f"m-{len(events)}"})
    return events


class Sandbox:
    def __init__(self) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sailbridge", "sandbox", "--port", self.url.rsplit(":", 1)[1]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy(self.url + "/_sandbox/state", self.process)

    def reset(self) -> None:
        request = urllib.request.Request(
            self.url + "/_sandbox/reset",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=30).close()

    def requests(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        since = 0
        while page := get_json(f"{self.url}/_sandbox/requests?since={since}")["requests"]:
            entries += page
            since = page[-1]["seq"]
        return entries

    def profiles(self) -> list[dict[str, Any]]:
        """Every profile, without what differs between two runs (ids, times)."""
        shaped = []
        for profile in get_json(self.url + "/_sandbox/state")["profiles"]:
            cart = profile["cart"]
            shaped.append(
                {
                    "keys": {k: v for k, v in profile["keys"].items() if k != "sid"},
                    "vars": profile["vars"],
                    "lists": sorted(profile["lists"]),
                    "optout": profile["optout_email"],
                    "cart": None
                    if cart is None
                    else {k: v for k, v in cart.items() if k != "time"},
                    # An order's date is its event's timestamp: when each run ingested it.
                    "purchases": [
                        {k: v for k, v in p.items() if k not in ("time", "date")}
                        for p in profile["purchases"]
                    ],
                    "events": [
                        {k: v for k, v in e.items() if k != "time"} for e in profile["events"]
                    ],
                }
            )
        return sorted(shaped, key=lambda p: json.dumps(p["keys"], sort_keys=True))

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def serve(
    sandbox: Sandbox, database: Path, role: str, coalescing: bool
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAILBRIDGE_")}
    env.update(
        {
            "SAILBRIDGE_SAILTHRU_API_KEY": "sandbox-key",
            "SAILBRIDGE_SAILTHRU_API_SECRET": "sandbox-secret",
            "SAILBRIDGE_SAILTHRU_BASE_URL": sandbox.url,
            "SAILBRIDGE_WRITE_KEYS": WRITE_KEY,
            "SAILBRIDGE_PORT": str(port),
            "SAILBRIDGE_DATABASE": str(database),
            "SAILBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
            "SAILBRIDGE_REMINDER_TEMPLATE": "abandoned cart",
            "SAILBRIDGE_REMINDER_TIME": "60 minutes",
            "SAILBRIDGE_COALESCING": "true" if coalescing else "false",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "sailbridge", "serve", role, "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url + "/livez", process)
    return process, url


def status(url: str) -> dict[str, Any]:
    response = requests.get(
        url + "/admin/status", timeout=30, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    return dict(response.json())


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(60)


def drain(
    sandbox: Sandbox, events: list[dict[str, Any]], scratch: Path, coalescing: bool
) -> dict[str, Any]:
    """Queue ``events`` with delivery off, then drain them; what it took."""
    sandbox.reset()
    database = scratch / f"backlog-{coalescing}.db"
    ingest, url = serve(sandbox, database, "--ingest-only", coalescing)
    session = requests.Session()
    session.auth = (WRITE_KEY, "")
    for start in range(0, len(events), 100):
        session.post(
            url + "/v1/batch", json={"batch": events[start : start + 100]}, timeout=60
        ).raise_for_status()
    while status(url)["not_yet_sorted"]:
        time.sleep(0.2)
    stop(ingest)
    worker, url = serve(sandbox, database, "--delivery-only", coalescing)
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline:
            seen = status(url)
            if seen["delivered"] + seen["skipped"] + seen["dead"] >= len(events):
                break
            time.sleep(0.5)
        final = status(url)
    finally:
        stop(worker)
    calls = [r for r in sandbox.requests() if r["status"] == 200]
    routes = Counter(r["route"] for r in calls)
    cart_posts = sum(
        1 for r in calls if r["route"] == "POST /purchase" and r["params"].get("incomplete") == 1
    )
    identifies = sum(1 for e in events if e["type"] == "identify")
    cart_events = sum(1 for e in events if e.get("event") in CART_EVENTS)
    times = [r["time"] for r in calls]
    return {
        "seconds": max(times) - min(times),
        "routes": dict(sorted(routes.items())),
        "calls": len(calls),
        "profile_per_call": identifies / max(routes["POST /user"], 1),
        "cart_per_call": cart_events / max(cart_posts, 1),
        "delivered": final["delivered"],
        "skipped": final["skipped"],
        "dead": final["dead"],
        "state": sandbox.profiles(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    events = mix(args.users, args.seed)
    kinds = Counter(
        "identify"
        if e["type"] == "identify"
        else "cart"
        if e.get("event") in CART_EVENTS
        else e.get("event")
        for e in events
    )
    print(f"mix: {len(events)} events for {args.users} users: {dict(kinds)}")
    sandbox = Sandbox()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            alone = drain(sandbox, events, Path(scratch), coalescing=False)
            merged = drain(sandbox, events, Path(scratch), coalescing=True)
    finally:
        sandbox.close()
    for name, run in (("one by one", alone), ("coalesced", merged)):
        print(
            f"{name:>10}: drained in {run['seconds']:.1f} s, {run['calls']} calls "
            f"{run['routes']}; events per call: profile {run['profile_per_call']:.2f}, "
            f"cart {run['cart_per_call']:.2f}; delivered {run['delivered']}, "
            f"skipped {run['skipped']}, dead {run['dead']}"
        )
    print(
        f"drain time coalesced / one by one: {merged['seconds'] / alone['seconds']:.2f} "
        f"(target <= 0.5); calls {merged['calls'] / alone['calls']:.2f}"
    )
    print(
        f"final sandbox state identical: {merged['state'] == alone['state']} "
        f"({len(alone['state'])} profiles)"
    )


if __name__ == "__main__":
    main()
