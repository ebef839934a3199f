"""The identity `sailbridge send` gives each event of a file, so a re-send is idempotent.

An event's identity is its ``messageId`` when it has one (as Segment de-duplicates),
else one derived from its content: the SHA-256 of its canonical JSON (keys sorted, no
insignificant whitespace, as read from the file, before any timestamp is filled in)
and its position among identical events in the file. Two identical lines are two
events (a customer may really buy the same thing twice), and the second one keeps
its identity when the file is sent again, or when more lines are added around it.
The two kinds cannot collide: each has its own prefix.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

MESSAGE_PREFIX = "message:"
CONTENT_PREFIX = "content:"


def content_digest(raw: Any) -> str:
    """SHA-256 (hex) of ``raw`` as canonical JSON: the same event always gives one digest."""
    canonical = json.dumps(
        raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def send_identities(events: Iterable[tuple[Any, str | None]]) -> list[str]:
    """One identity per ``(raw event, messageId)`` of a file, in file order."""
    return list(iter_identities(events))


def iter_identities(events: Iterable[tuple[Any, str | None]]) -> Iterator[str]:
    """The identities of ``events`` as they stream by (a file too big to hold).

    ``message:<messageId>`` when the event has one; else ``content:<digest>:<n>``,
    ``n`` counting the identical events before it in the file (0 for the first).
    """
    seen: Counter[str] = Counter()
    for raw, message_id in events:
        if message_id:
            yield MESSAGE_PREFIX + message_id
            continue
        digest = content_digest(raw)
        yield f"{CONTENT_PREFIX}{digest}:{seen[digest]}"
        seen[digest] += 1
