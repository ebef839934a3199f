"""The commands for trying sailbridge without a Sailthru account: ``sandbox`` runs the
local fake Sailthru, ``demo`` runs one and sends the example events through it."""

from __future__ import annotations

from typing import Annotated

import typer

from sailbridge.cli.consoles import err, out
from sailbridge.cli.exits import die


def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8900,
    api_key: Annotated[str, typer.Option(help="The api key the sandbox accepts.")] = "sandbox-key",
    api_secret: Annotated[
        str, typer.Option(help="The shared secret it verifies with.")
    ] = "sandbox-secret",
    customer_id: Annotated[
        str, typer.Option(help="Bearer token for pageviews.")
    ] = "sandbox-customer",
    template: Annotated[
        list[str] | None,
        typer.Option(help="A known reminder template (repeatable; default 'abandoned cart')."),
    ] = None,
    cart_read_lag: Annotated[float, typer.Option(help="Seconds GET /user lags cart posts.")] = 0.0,
    rate_limit: Annotated[
        list[str] | None,
        typer.Option(help="A route's limit, e.g. 'POST /event=40/s' (repeatable)."),
    ] = None,
    rate_limit_window: Annotated[float, typer.Option(help="Rate-limit window, seconds.")] = 60.0,
    fail_rate: Annotated[float, typer.Option(help="Share of calls failing with error 9.")] = 0.0,
    throttle_rate: Annotated[
        float, typer.Option(help="Share of calls answered 429 whatever the limit (a storm).")
    ] = 0.0,
    slow_rate: Annotated[float, typer.Option(help="Share of calls answered slowly.")] = 0.0,
    slow_seconds: Annotated[float, typer.Option(help="How slow a slow answer is.")] = 5.0,
    drop_rate: Annotated[
        float, typer.Option(help="Share of connections dropped unanswered.")
    ] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible faults.")] = None,
    job_delay: Annotated[
        float, typer.Option(help="Seconds a Job API upload stays pending before it is applied.")
    ] = 0.5,
    var_name_max_length: Annotated[
        int | None,
        typer.Option(help="Refuse var names longer than this (error 99), as some accounts do."),
    ] = None,
) -> None:
    """Run a local fake Sailthru that behaves as the real API does (see docs/sandbox.md)."""
    from sailbridge.sandbox.config import ConfigError, SandboxConfig, default_rate_limits
    from sailbridge.sandbox.server import serve
    from sailbridge.settings import parse_rate_limit_items

    try:
        per_second = parse_rate_limit_items(",".join(rate_limit or []))
        limits = {
            **default_rate_limits(rate_limit_window),
            **{
                route: max(1, round(rate * rate_limit_window)) for route, rate in per_second.items()
            },
        }
        config = SandboxConfig(
            api_key=api_key,
            api_secret=api_secret,
            customer_id=customer_id,
            templates=frozenset(template or ["abandoned cart"]),
            cart_read_lag=cart_read_lag,
            rate_limits=limits,
            rate_limit_window=rate_limit_window,
            fail_rate=fail_rate,
            throttle_rate=throttle_rate,
            slow_rate=slow_rate,
            slow_seconds=slow_seconds,
            drop_rate=drop_rate,
            seed=seed,
            job_delay=job_delay,
            var_name_max_length=var_name_max_length,
        )
    except (ValueError, ConfigError) as exc:
        die(str(exc))
    err.print(
        f"sandbox Sailthru on http://{host}:{port}  (api key {api_key!r}; "
        f"inspect http://{host}:{port}/_sandbox/state)",
        highlight=False,
    )
    serve(config, host=host, port=port)


def demo() -> None:
    """Start a sandbox, send the example events through sailbridge, show what arrived."""
    from sailbridge.demo import run_demo

    raise typer.Exit(run_demo(out()))
