"""sailbridge: a self-hosted Sailthru destination for Segment-spec events."""

__version__ = "0.1.0"
