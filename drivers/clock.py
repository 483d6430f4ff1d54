"""Time as devices and apps see it.

Every wait in possim goes through a :class:`Clock`, so a simulation can run
timeouts on virtual time (see ``simulator.clock.VirtualClock``) while real
devices keep the wall clock (:class:`RealClock`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """Current wall time, timezone-aware."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""

    def wait_until(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Block until ``ready()`` is true (-> True) or ``timeout`` s pass (-> False).

        ``ready`` is re-evaluated whenever someone calls :meth:`notify`; it must be
        cheap and thread-safe.
        """

    def notify(self) -> None:
        """Tell waiters that state they may be waiting on has changed."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""

    def work_begun(self) -> None:
        """A message was handed to a peer; time must not jump until it is answered."""

    def work_done(self) -> None:
        """A message counted by :meth:`work_begun` was consumed or dropped."""

    def actor(self) -> AbstractContextManager[None]:
        """Mark the calling thread as doing work for as long as the context lasts."""


class RealClock:
    """Wall-clock time; the right clock for real devices and real hosts."""

    def __init__(self) -> None:
        self._cond = threading.Condition()

    def now(self) -> datetime:
        return datetime.now(timezone.utc).astimezone()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait_until(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(ready, timeout)

    def notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def work_begun(self) -> None:
        pass

    def work_done(self) -> None:
        pass

    def actor(self) -> AbstractContextManager[None]:
        return nullcontext()


POLL_INTERVAL = 0.1  # seconds between looks at state that no one notifies about


def poll_until(
    clock: Clock, ready: Callable[[], bool], timeout: float | None, interval: float = POLL_INTERVAL
) -> bool:
    """Like :meth:`Clock.wait_until`, for state that changes without a ``notify()``.

    Real devices (a PC/SC reader, a card pulled by a hand) never wake the clock,
    so ``ready`` is also looked at every ``interval`` seconds of clock time. On a
    virtual clock those looks cost no real time when nothing else is happening.
    """
    deadline = None if timeout is None else clock.monotonic() + timeout
    while True:
        remaining = interval if deadline is None else deadline - clock.monotonic()
        if clock.wait_until(ready, max(0.0, min(remaining, interval))):
            return True
        if deadline is not None and clock.monotonic() >= deadline:
            return False
