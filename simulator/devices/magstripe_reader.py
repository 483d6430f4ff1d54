"""A virtual magnetic stripe reader: scenarios, the TUI or tests swipe card
images through it; the terminal sees only the :class:`MagstripeReader` driver."""

from __future__ import annotations

import threading
from collections import deque

from drivers.clock import Clock
from drivers.magstripe_reader import MagstripeReader
from simulator.devices.card_image import CardImage


class VirtualMagstripeReader(MagstripeReader):
    def __init__(self, clock: Clock, *, name: str = "possim virtual magstripe reader") -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._swipes: deque[str] = deque()

    # -- the simulation side ----------------------------------------------------

    def swipe(self, card: CardImage) -> None:
        """Swipe ``card``: the head reads its track 2."""
        self.swipe_track2(card.track2)

    def swipe_track2(self, track2: str) -> None:
        """Swipe a stripe holding exactly ``track2`` ("" = unreadable stripe)."""
        with self._lock:
            self._swipes.append(track2)
        self._clock.notify()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._swipes)

    # -- MagstripeReader -----------------------------------------------------------

    def take_swipe(self) -> str | None:
        with self._lock:
            return self._swipes.popleft() if self._swipes else None

    def swipe_waiting(self) -> bool:
        return bool(self._swipes)

    def discard_swipes(self) -> None:
        with self._lock:
            self._swipes.clear()
