"""Settings: environment variables (``SAILBRIDGE_*``) over an optional TOML file.

One typed object for the whole program. Every problem is reported as a
`SettingsError` whose message is one line naming the environment variable, because
that is what the person starting the program has to fix.

- `model`: the `Settings` object, its defaults and the checks on each value;
- `rate_limits`: Sailthru's rate limits and ``SAILBRIDGE_RATE_LIMITS``;
- `loading`: the TOML file under the environment, and the one-line problems;
- `report`: the masked values for the log, and warnings for unknown variables.
"""

from sailbridge.settings.loading import load_settings
from sailbridge.settings.model import (
    ENV_PREFIX,
    Settings,
    SettingsError,
    is_loopback_url,
    list_name_problem,
)
from sailbridge.settings.rate_limits import (
    DEFAULT_MAX_RATE_LIMIT_BLOCK,
    DEFAULT_OTHER_LIMIT,
    DEFAULT_RATE_LIMIT_RESENDS,
    DEFAULT_RATE_LIMITS,
    parse_rate_limit_items,
    parse_rate_limits,
)
from sailbridge.settings.report import masked_settings, unknown_environment

__all__ = [
    "DEFAULT_MAX_RATE_LIMIT_BLOCK",
    "DEFAULT_OTHER_LIMIT",
    "DEFAULT_RATE_LIMITS",
    "DEFAULT_RATE_LIMIT_RESENDS",
    "ENV_PREFIX",
    "Settings",
    "SettingsError",
    "is_loopback_url",
    "list_name_problem",
    "load_settings",
    "masked_settings",
    "parse_rate_limit_items",
    "parse_rate_limits",
    "unknown_environment",
]
