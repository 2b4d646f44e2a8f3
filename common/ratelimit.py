"""Sliding-window limits kept in the cache: Test Connection, the calls Create Import makes to
BigQuery, and the sign-in brake's failure counts.

A window of `seconds` is cut into SLOTS slots, each a counter the cache increments atomically
(Redis INCR). The count of a window is the sum of the slots that overlap the last `seconds`,
the oldest one counted whole. So no stretch of `seconds` ever holds more than `limit` events,
across a minute's boundary too (a counter per calendar minute let twice the limit through in
a few seconds there); the price is refusing up to one slot (1/12 of the window) early.

With Redis away the cache reads nothing and drops writes (common.cache): every limit is then
off rather than every page broken.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.core.cache import cache

SLOTS = 12


@dataclass(frozen=True)
class SlidingWindow:
    name: str
    limit: int
    seconds: int

    def _slots(self, subject: str, now: float) -> list[tuple[str, float]]:
        """(cache key, time it leaves the window) of each slot in the window, oldest first."""
        width = self.seconds / SLOTS
        current = int(now // width)
        return [
            (f"window:{self.name}:{subject}:{index}", (index + 1) * width + self.seconds)
            for index in range(current - SLOTS, current + 1)
        ]

    def _counts(self, subject: str, now: float) -> list[tuple[int, float]]:
        slots = self._slots(subject, now)
        found = cache.get_many([key for key, _ in slots])
        return [(max(0, int(found.get(key) or 0)), leaves) for key, leaves in slots]

    def count(self, subject: str) -> int:
        """Events in the last `seconds`."""
        return sum(count for count, _ in self._counts(subject, time.time()))

    def add(self, subject: str) -> None:
        """Count one event now."""
        key, _ = self._slots(subject, time.time())[-1]
        self._incr(key, 1)

    def _incr(self, key: str, delta: int) -> None:
        # Kept a little longer than the window; on the filesystem cache incr keeps the
        # default timeout instead (settings give it one longer than any window).
        if delta > 0 and cache.add(key, delta, timeout=self.seconds + 60):
            return
        try:
            cache.incr(key, delta)
        except ValueError:  # expired between add and incr
            if delta > 0:
                cache.set(key, delta, timeout=self.seconds + 60)

    def retry_after(self, subject: str) -> int:
        """Whole seconds until one more event fits; 0 when it fits now."""
        now = time.time()
        counts = self._counts(subject, now)
        total = sum(count for count, _ in counts)
        if total < self.limit:
            return 0
        for count, leaves in counts:
            total -= count
            if total < self.limit:
                return max(1, math.ceil(leaves - now))
        return self.seconds  # not reached: every slot leaves in time, and limit >= 1

    def attempt(self, subject: str) -> int:
        """Count one event if it fits: 0, or the whole seconds to wait (nothing counted).

        The event is counted first and taken back when over: two requests at once can then
        both be refused, never both let through past the limit."""
        key, _ = self._slots(subject, time.time())[-1]
        self._incr(key, 1)
        if self.count(subject) <= self.limit:
            return 0
        self._incr(key, -1)
        return max(1, self.retry_after(subject))

    def clear(self, subject: str) -> None:
        cache.delete_many([key for key, _ in self._slots(subject, time.time())])
