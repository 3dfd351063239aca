"""Pacing our requests to Stripe: at most so many a second, slower after HTTP 429."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Throttle:
    """Spaces calls to at most `per_second`, and slows down after HTTP 429.

    `wait()` before each call; `rate_limited()` after a 429 halves the rate
    (down to one call a second) and pauses; `succeeded()` lets it recover.
    `clock` and `sleep` are injectable for tests. Records call times in
    `calls` so a benchmark can report the peak rate.
    """

    def __init__(self, per_second: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if per_second <= 0:
            raise ValueError("per_second must be more than 0")
        self.limit = float(per_second)
        self.rate = float(per_second)
        self._clock = clock
        self._sleep = sleep
        self._next = clock()
        self.calls: list[float] = []

    def wait(self) -> None:
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._clock()
        # A hair over 1/rate, so float rounding never lets N+1 calls into one second.
        self._next = max(now, self._next) + 1.0 / self.rate + 1e-9
        self.calls.append(now)

    def rate_limited(self) -> None:
        # Halve, but not below one a second (unless already slower: never speed up).
        self.rate = max(self.rate / 2, min(1.0, self.rate))
        self._next = max(self._next, self._clock() + 1.0)
        log.warning("stripe: rate limited (HTTP 429); slowing to %.1f requests/s", self.rate)

    def succeeded(self) -> None:
        self.rate = min(self.limit, self.rate * 1.25)

    def peak_per_second(self) -> int:
        """The most calls started within any one-second window."""
        best, start = 0, 0
        for end, at in enumerate(self.calls):
            while at - self.calls[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best
