"""Pacing to the SES sending rate: a token bucket counted in recipients."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` recipients per second on average, bursts up to `capacity`.

    `acquire(n)` blocks until n tokens are there. SES counts its MaxSendRate per recipient, so a
    bulk call of 50 destinations takes 50 tokens.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(capacity if capacity is not None else rate, 1.0)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self, n: float = 1.0) -> float:
        """Take n tokens, waiting as long as needed; returns the seconds waited."""
        if n > self.capacity:
            raise ValueError(f"cannot take {n} tokens from a bucket of {self.capacity}")
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= n:
                    self._tokens -= n
                    return waited
                wait = (n - self._tokens) / self.rate
            self._sleep(wait)
            waited += wait

    def set_rate(self, rate: float) -> None:
        with self._lock:
            self._refill()
            self.rate = rate
