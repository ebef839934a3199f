"""Answering an asyncio future from whoever finished the work (a thread, another task)."""

from __future__ import annotations

import asyncio
from typing import Any


def settle(future: asyncio.Future[Any], result: Any, error: BaseException | None = None) -> None:
    """Give ``future`` its result or ``error``, unless its waiter went away (cancelled)."""
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
