"""``python -m sailbridge.sandbox``: a local fake Sailthru for trying sailbridge out."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sailbridge.sandbox.config import SandboxConfig
from sailbridge.sandbox.server import serve


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sailbridge.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--api-key", default="sandbox-key")
    parser.add_argument("--api-secret", default="sandbox-secret")
    parser.add_argument("--customer-id", default="sandbox-customer")
    parser.add_argument("--template", action="append", dest="templates",
                        help="a known reminder template (repeatable; default 'abandoned cart')")
    parser.add_argument("--cart-read-lag", type=float, default=0.0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--slow-rate", type=float, default=0.0)
    parser.add_argument("--slow-seconds", type=float, default=0.0)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    config = SandboxConfig(
        api_key=args.api_key,
        api_secret=args.api_secret,
        customer_id=args.customer_id,
        templates=frozenset(args.templates or {"abandoned cart"}),
        cart_read_lag=args.cart_read_lag,
        fail_rate=args.fail_rate,
        slow_rate=args.slow_rate,
        slow_seconds=args.slow_seconds,
        drop_rate=args.drop_rate,
        seed=args.seed,
    )
    serve(config, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
