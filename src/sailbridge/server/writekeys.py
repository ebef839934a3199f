"""Which Segment write keys ingest accepts, and the Authorization headers seen with one.

An empty set refuses every request (401 saying none is configured): an open endpoint
would let anyone on the network send mail-affecting events. A Basic-auth header that
carried a configured key is remembered (an SDK sends the same one every time), so its
base64 is decoded once rather than on every request.
"""

from __future__ import annotations

from typing import Final

from sailbridge.server.bodies import write_key_from_authorization
from sailbridge.server.errors import Unauthorized

KNOWN_HEADERS_KEPT: Final = 256
"""Authorization headers remembered with their (configured) write key."""


class WriteKeys:
    """The configured write keys, checked for each request."""

    def __init__(self, keys: frozenset[str]) -> None:
        self.keys = keys
        self._known_headers: dict[str, str] = {}

    def authorize(self, write_key: str | None) -> str:
        """``write_key`` if it is configured, else `Unauthorized` saying what is wrong."""
        if not self.keys:
            raise Unauthorized(
                "no write keys are configured on this sailbridge "
                "(SAILBRIDGE_WRITE_KEYS); every request is refused until one is"
            )
        if write_key is None:
            raise Unauthorized(
                "missing write key: send it as Basic auth (writeKey as the "
                'user name) or as "writeKey" in the body'
            )
        if write_key not in self.keys:
            raise Unauthorized("unknown write key")
        return write_key

    def from_header(self, header: str | None) -> str | None:
        """The configured key in an ``Authorization`` header (`Unauthorized` for a key
        that is not configured); ``None`` when the header carries no key."""
        key = self._known_headers.get(header) if header else None
        if key is None:
            key = write_key_from_authorization(header)
            if key is not None:
                self.authorize(key)
                if len(self._known_headers) >= KNOWN_HEADERS_KEPT:
                    self._known_headers.clear()
                self._known_headers[header] = key  # type: ignore[index] # header is set
        return key
