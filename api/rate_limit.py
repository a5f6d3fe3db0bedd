"""A per-key request rate limit: one token bucket per API key, in this API process's memory.

Each key may burst ``per_minute`` requests, then gets one more every ``60 / per_minute``
seconds. The buckets live in the process that serves the request; nothing is shared through
the database, so a limit costs no query. ``hwsearch serve --api-processes N`` gives each
process 1/N of the limit (``api.server.child_settings``), so a key never gets more in all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token buckets keyed by API key id; ``per_minute`` 0 (or less) turns the limit off."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0  # tokens a second
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # key id -> (tokens, when counted)
        self._lock = threading.Lock()  # sync routes' dependencies run on many threads

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def take(self, key_id: int) -> float:
        """Spend one of the key's tokens: 0.0 if the request may go on, else seconds until one is back."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - then) * self._rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self._rate
