"""The composition root: the one place that picks implementations and plugs them together.

Everything under it takes its collaborators as arguments — the worker a `Store` and a
`Sender`, the `RateLimitedSender` a limiter, the shared limiter its slots — so each
part can be built alone in a test. Which store, which limiter and which wrappers go
together is decided here and nowhere else:

- the store named by ``SAILBRIDGE_DATABASE`` (`sailbridge.store.factory.open_store`);
- the rate limiter matching its backend (`sailbridge.store.factory.backend_for`):
  shared through the database by every node on PostgreSQL (Sailthru's limits are per
  account; `sailbridge.store.postgres.ratelimit`), in-process on SQLite;
- each account's sender stack around Sailthru's client (`sailbridge.delivery.senders`),
  with the account's credentials, base URLs and mapping options, over one limiter
  keyed by (account, route);
- the worker, with the observers the caller wants.

``sailbridge serve`` (`sailbridge.service`), ``sailbridge send`` (`sailbridge.send`)
and through them the CLI and the backfill's live remainder all build delivery here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

import aiohttp

from sailbridge.delivery.lines import AccountDelivery
from sailbridge.delivery.observers import DeliveryObserver, MetricsObserver, Observers
from sailbridge.delivery.ratelimit import RateLimiter
from sailbridge.delivery.retry import RetryPolicy
from sailbridge.delivery.senders import MeasuredSender, RateLimitedSender
from sailbridge.delivery.shared_ratelimit import SharedRateLimiter
from sailbridge.delivery.worker import Worker, WorkerConfig
from sailbridge.mapping.coalescing import MAX_MEMBERS
from sailbridge.metrics import Metrics
from sailbridge.sailthru.client import SailthruClient, Sender
from sailbridge.settings import DEFAULT_MAX_RATE_LIMIT_BLOCK, Settings
from sailbridge.store.accounts import account_limits
from sailbridge.store.base import Store
from sailbridge.store.factory import backend_for


@asynccontextmanager
async def rate_limiter(
    database: str,
    limits_per_second: Mapping[str, float],
    *,
    max_block: float = DEFAULT_MAX_RATE_LIMIT_BLOCK,
    on_wait: Callable[[str, float], None] = lambda route, seconds: None,
) -> AsyncIterator[RateLimiter]:
    """The limiter for the store at ``database``: shared through its backend's slots
    when it has them (PostgreSQL, on a pool of their own, closed on exit), else
    in-process; either holds a route for at most ``max_block`` seconds."""
    shared_slots = backend_for(database).shared_slots
    if shared_slots is None:
        yield RateLimiter(limits_per_second, on_wait=on_wait, max_block=max_block)
        return
    async with shared_slots(database) as slots:
        yield SharedRateLimiter(slots, limits_per_second, on_wait=on_wait, max_block=max_block)


@asynccontextmanager
async def account_senders(
    settings: Settings, metrics: Metrics | None = None, accounts: Sequence[str] | None = None
) -> AsyncIterator[dict[str, AccountDelivery]]:
    """Each account's delivery (of ``accounts``, default all): Sailthru's client with
    the account's credentials and base URLs, measured (with ``metrics``) and behind one
    rate limiter keyed by (account, route) that matches the store; one pooled HTTP
    session for them all."""
    deployment = settings.deployment()
    chosen = [deployment.account(name) for name in (accounts or deployment.names)]
    credentials = {account.name: account.settings.credentials() for account in chosen}
    policy = RetryPolicy.from_settings(settings)
    connector = aiohttp.TCPConnector(limit=max(settings.concurrency, 10))
    limits = account_limits(
        {account.name: account.settings.rate_limits_per_second for account in chosen}
    )
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        rate_limiter(
            settings.database,
            limits,
            max_block=policy.max_rate_limit_block,
            on_wait=metrics.record_throttle_wait if metrics else (lambda route, s: None),
        ) as limiter,
    ):
        deliveries = {}
        for account in chosen:
            api_key, api_secret = credentials[account.name]
            own = account.settings
            client: Sender = SailthruClient(
                session,
                api_key=api_key,
                api_secret=api_secret,
                base_url=own.sailthru_base_url,
                pageview_base_url=own.pageview_base_url,
                customer_id=own.customer_id,
                timeout=settings.request_timeout,
            )
            if metrics is not None:
                client = MeasuredSender(client, metrics, account=account.name)
            deliveries[account.name] = AccountDelivery(
                RateLimitedSender(client, limiter, policy.rate_limit_resends, account=account.name),
                own.mapping_options(),
            )
        yield deliveries


def build_worker(
    settings: Settings,
    store: Store,
    accounts: Mapping[str, AccountDelivery],
    metrics: Metrics | None = None,
    *,
    observers: Sequence[DeliveryObserver] = (),
) -> Worker:
    """A worker on ``store`` delivering for ``accounts``, configured from ``settings``;
    with ``metrics``, every attempt is counted there too."""
    every = [*([MetricsObserver(metrics)] if metrics else []), *observers]
    limited = [
        delivery.sender
        for delivery in accounts.values()
        if isinstance(delivery.sender, RateLimitedSender)
    ]
    return Worker(
        store,
        accounts,
        RetryPolicy.from_settings(settings),
        cart_ttl=settings.cart_memory_ttl,
        config=WorkerConfig(
            concurrency=settings.concurrency,
            lease=settings.lease_timeout,
            group_size=MAX_MEMBERS if settings.coalescing else 1,
        ),
        observer=Observers(every),
        rate_limited=lambda: any(sender.waiting > 0 for sender in limited),
    )


@asynccontextmanager
async def delivery_worker(
    settings: Settings,
    store: Store,
    metrics: Metrics | None = None,
    *,
    observers: Sequence[DeliveryObserver] = (),
    accounts: Sequence[str] | None = None,
) -> AsyncIterator[Worker]:
    """A worker with every account's sender stack (of ``accounts``, default all), open
    for as long as the block runs; the caller runs it (``await worker.run()``) and
    stops it before leaving the block."""
    async with account_senders(settings, metrics, accounts) as deliveries:
        yield build_worker(settings, store, deliveries, metrics, observers=observers)
