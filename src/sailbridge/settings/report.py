"""What sailbridge says about its settings at start: every effective value with the
secrets masked (safe to log), and a warning for each ``SAILBRIDGE_*`` variable that
is no setting, since a typo is otherwise silently ignored."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any, Final

from sailbridge.mapping.filters import FilterSet
from sailbridge.redact import MASK, mask_url_password
from sailbridge.settings.model import ENV_PREFIX, Settings, is_secret

OTHER_ENVIRONMENT_NAMES: Final = frozenset({f"{ENV_PREFIX}CONFIG"})
"""``SAILBRIDGE_*`` variables read outside `Settings` (the command line's ``--config``)."""


def known_environment_names() -> frozenset[str]:
    """Every ``SAILBRIDGE_*`` variable sailbridge reads."""
    return (
        frozenset(f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields)
        | OTHER_ENVIRONMENT_NAMES
    )


def unknown_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per ``SAILBRIDGE_*`` variable that is no setting (a typo is otherwise
    silently ignored), with the closest real name when one is close."""
    environ = os.environ if environ is None else environ
    known = known_environment_names()
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        # Compared without the prefix every name shares, or anything looks close.
        close = difflib.get_close_matches(
            upper.removeprefix(ENV_PREFIX),
            sorted(n.removeprefix(ENV_PREFIX) for n in known),
            n=1,
            cutoff=0.6,
        )
        hint = f"; did you mean {ENV_PREFIX}{close[0]}?" if close else ""
        warnings.append(f"{name} is not a sailbridge setting and is ignored{hint}")
    return warnings


def masked_settings(settings: Settings) -> dict[str, Any]:
    """Every setting's effective value, safe to log: a secret set shows as ``***``
    (unset as ``None``), a password inside a URL is masked."""
    shown: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if is_secret(name):
            shown[name] = MASK if value else None
        elif isinstance(value, str):
            shown[name] = mask_url_password(value)
        elif name in ("accounts", "sources"):  # names only: the rest holds secrets
            shown[name] = [item.name for item in value]
        elif isinstance(value, FilterSet):  # names only: a condition may hold a write key
            shown[name] = [rule.name for rule in value.rules]
        else:
            shown[name] = value
    return shown
