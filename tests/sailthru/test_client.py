"""The async client against the sandbox over real HTTP: encoding, errors, headers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from sailbridge.sailthru.calls import Call
from sailbridge.sailthru.client import SailthruClient, is_user_not_found
from sailbridge.sailthru.errors import (
    CredentialsError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    TransportError,
)
from sailbridge.sandbox.server import SandboxHandle


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client_for(
    sandbox: SandboxHandle,
    session: aiohttp.ClientSession,
    *,
    secret: str | None = None,
    customer_id: str | None = "sandbox-customer",
    timeout: float = 10.0,
) -> SailthruClient:
    return SailthruClient(
        session,
        api_key=sandbox.config.api_key,
        api_secret=secret if secret is not None else sandbox.config.api_secret,
        base_url=sandbox.url,
        pageview_base_url=sandbox.url,
        customer_id=customer_id,
        timeout=timeout,
    )


async def test_post_user_is_accepted_and_returns_rate_limit_headers(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    response = await client_for(sandbox, session).send(
        Call("POST", "/user", {"id": "u1", "key": "extid", "vars": {"a": 1}})
    )
    assert response.status == 200
    assert response.rate_limit is not None
    assert response.rate_limit.limit == 18000
    assert response.rate_limit.remaining == 17999
    assert sandbox.user("u1")["vars"] == {"a": 1}


async def test_plus_and_unicode_in_post_json_arrive_intact(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    await client_for(sandbox, session).send(
        Call("POST", "/user", {"id": "u+1", "key": "extid", "vars": {"note": "a+b=c & Zoë"}})
    )
    assert sandbox.user("u+1")["vars"] == {"note": "a+b=c & Zoë"}


async def test_get_sends_parameters_in_the_query_string(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    client = client_for(sandbox, session)
    await client.send(
        Call("POST", "/user", {"id": "u2", "key": "extid", "keys": {"email": "u2+tag@example.com"}})
    )
    response = await client.send(
        Call("GET", "/user", {"id": "u2", "key": "extid", "fields": {"keys": 1}})
    )
    assert response.body["keys"]["email"] == "u2+tag@example.com"


async def test_delete_removes_the_profile(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    client = client_for(sandbox, session)
    await client.send(Call("POST", "/user", {"id": "gone", "key": "extid"}))
    await client.send(Call("DELETE", "/user", {"id": "gone", "key": "extid"}))
    assert sandbox.user("gone") is None


async def test_unknown_user_is_a_permanent_not_found_error(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(PermanentError) as caught:
        await client_for(sandbox, session).send(
            Call("GET", "/user", {"id": "nobody", "key": "extid"})
        )
    assert caught.value.code == 99
    assert caught.value.status == 400
    assert is_user_not_found(caught.value)
    assert caught.value.message == "User not found with extid: nobody"


async def test_wrong_secret_is_a_credentials_error_that_never_shows_the_secret(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(CredentialsError) as caught:
        await client_for(sandbox, session, secret="not-the-secret").send(
            Call("POST", "/user", {"id": "u", "key": "extid"})
        )
    assert caught.value.code == 5
    assert "not-the-secret" not in str(caught.value.to_dict())
    assert "not-the-secret" not in repr(client_for(sandbox, session, secret="not-the-secret"))


async def test_error_9_is_retryable_whether_http_500_or_200(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    sandbox.configure(fail_rate=1.0)
    client = client_for(sandbox, session)
    statuses = set()
    for _ in range(2):
        with pytest.raises(RetryableError) as caught:
            await client.send(Call("POST", "/event", {"id": "u", "key": "extid", "event": "x"}))
        assert caught.value.code == 9
        statuses.add(caught.value.status)
    assert statuses == {200, 500}


async def test_rate_limit_is_classified_with_the_reset_time(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    sandbox.configure(rate_limits={"POST /event": 1}, rate_limit_window=60)
    client = client_for(sandbox, session)
    call = Call("POST", "/event", {"id": "u", "key": "extid", "event": "x"})
    first = await client.send(call)
    assert first.rate_limit is not None and first.rate_limit.remaining == 0
    with pytest.raises(RateLimitedError) as caught:
        await client.send(call)
    assert caught.value.code == 43
    assert caught.value.reset_at == first.rate_limit.reset


async def test_reserved_event_name_is_permanent(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(PermanentError) as caught:
        await client_for(sandbox, session).send(
            Call("POST", "/event", {"id": "u", "key": "extid", "event": "purchase"})
        )
    assert caught.value.code == 99


async def test_dropped_connection_is_a_transport_error(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    sandbox.configure(drop_rate=1.0)
    with pytest.raises(TransportError):
        await client_for(sandbox, session).send(Call("POST", "/user", {"id": "u", "key": "extid"}))


async def test_slow_answer_times_out_as_a_transport_error(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    sandbox.configure(slow_rate=1.0, slow_seconds=2.0)
    with pytest.raises(TransportError, match=r"no answer within 0.3 s"):
        await client_for(sandbox, session, timeout=0.3).send(
            Call("POST", "/user", {"id": "u", "key": "extid"})
        )


async def test_pageview_uses_the_bearer_customer_id(
    sandbox: SandboxHandle, session: aiohttp.ClientSession
) -> None:
    call = Call(
        "POST",
        "/v1/track/event/pageview",
        {"userIdKey": "extid", "userIdValue": "pv", "url": "https://e.com/a", "tags": ["x"]},
        api="pageview",
    )
    await client_for(sandbox, session).send(call)
    assert sandbox.user("pv")["pageviews"][0]["url"] == "https://e.com/a"
    with pytest.raises(CredentialsError):
        await client_for(sandbox, session, customer_id="wrong").send(call)


async def test_unreachable_sailthru_is_a_transport_error(session: aiohttp.ClientSession) -> None:
    client = SailthruClient(
        session, api_key="k", api_secret="s", base_url="http://127.0.0.1:9", timeout=2
    )
    with pytest.raises(TransportError):
        await client.send(Call("POST", "/user", {"id": "u", "key": "extid"}))
