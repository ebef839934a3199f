"""The operator's web console at ``/console``: overview, events, dead letters, event
tester and user timeline (see docs/console.md). `console_routes` mounts it."""

from sailbridge.server.console.routes import console_routes

__all__ = ["console_routes"]
