"""The two streams the commands write to: results on stdout, everything else on stderr.

Results (``--json``, tab-separated rows when piped) go to standard output so scripts
can read them; progress, warnings, errors and which store was read go to standard
error, so they never mix into what a script reads.
"""

from __future__ import annotations

import sys

from rich.console import Console

err = Console(stderr=True, soft_wrap=not sys.stderr.isatty())
"""Standard error: progress, warnings and errors."""


def out() -> Console:
    """Standard output: wrapped to the terminal, or never wrapped when piped."""
    return Console(soft_wrap=not sys.stdout.isatty())
