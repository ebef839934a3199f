"""Hiding secrets in what sailbridge prints: logs, errors, the configuration summary.

One place, so every message that shows a database URL or a setting hides the same
things the same way.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit, urlunsplit

MASK: Final = "***"

_PASSWORD_PARAM = re.compile(r"(?i)(\bpassword=)[^&\s]*")


def mask_url_password(text: str) -> str:
    """``postgresql://user:pw@host/db?password=pw`` → ``postgresql://user:***@host/db?password=***``;
    text that is not such a URL comes back unchanged."""
    masked = _PASSWORD_PARAM.sub(rf"\g<1>{MASK}", text)
    if "://" not in masked:
        return masked
    try:
        parts = urlsplit(masked)
    except ValueError:
        return masked
    if parts.password is None:
        return masked
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
