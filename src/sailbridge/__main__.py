"""``python -m sailbridge``: the same as the ``sailbridge`` command."""

from sailbridge.cli import main

main()
