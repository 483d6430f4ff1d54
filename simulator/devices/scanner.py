"""A virtual scanner (in-process): each ``scan`` delivers one code."""

from __future__ import annotations

import threading
from collections import deque

from drivers.clock import Clock
from drivers.scanner import Scanner


class VirtualScanner(Scanner):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._codes: deque[str] = deque()

    def scan(self, code: str, times: int = 1) -> None:
        """Deliver ``code``; ``times`` > 1: a doubled scan, all copies at once."""
        with self._lock:
            self._codes.extend([code] * times)
        self._clock.notify()

    def noise(self, data: bytes) -> None:
        """Line noise that is no text (a scenario's scan_noise): the serial driver drops
        such a frame, so nothing reaches the terminal here either."""
        self._clock.notify()

    def read_code(self, timeout: float) -> str | None:
        if not self._clock.wait_until(lambda: bool(self._codes), timeout):
            return None
        with self._lock:
            return self._codes.popleft()
