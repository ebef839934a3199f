"""How delivery logs a store call that failed: delivery never ends on one, it tries again.

The claim loop, the pause reads and the settling of each job all meet the same store
going briefly away (a restart, a failover) or failing for real, and each must say so
the same way, under the worker's logger, so one alert and one log filter fit them all.
"""

from __future__ import annotations

import logging

from sailbridge.store.errors import is_transient

log = logging.getLogger("sailbridge.worker")


def store_failed(doing: str, error: Exception) -> None:
    """Log a store call that failed: a warning without a traceback when the store is
    briefly away (it is retried), the traceback otherwise; repeats are collapsed by the
    logging setup."""
    if is_transient(error):
        log.warning(
            "store unavailable; will try again",
            extra={"doing": doing, "error": f"{type(error).__name__}: {error}"},
        )
    else:
        log.error(
            "store call failed; will try again",
            exc_info=error,
            extra={"doing": doing, "error": f"{type(error).__name__}: {error}"},
        )
