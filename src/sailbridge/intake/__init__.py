"""The one intake every source of events goes through: HTTP routes, ``send``, ``explain``.

- `documents` splits a body (or file) into raw events and the batch's shared fields,
  repairing what must be repaired (`repair`) so one bad event costs only itself;
- `rules` holds Segment's batch and per-event rules (shared fields, ``sentAt``
  fall-back, type from the path, ``delete`` as ``User Deleted``);
- `sorting` turns each event into a queued job or a rejection with its reason, by the
  fast path (`fastpath`) when the event is already in shape, else the general path;
- `jobs` is the one place a `NewJob` is built.

HTTP concerns (auth, CORS, status codes, headers) stay in `sailbridge.server`.
"""
