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


class _Waiter:
    __slots__ = ("ready", "wakeup")

    def __init__(self, ready: Callable[[], bool], lock: threading.RLock) -> None:
        self.ready = ready
        # One condition per waiter, all on the clock's lock: notify() wakes only
        # the threads whose condition now holds, not every thread that waits.
        self.wakeup = threading.Condition(lock)


class RealClock:
    """Wall-clock time; the right clock for real devices and real hosts.

    :meth:`notify` is called on every published event (it is how a condition on
    the event stream is seen at once), so it must be cheap: with nobody waiting
    it returns without taking a lock, and otherwise it wakes only the waiters
    whose ``ready()`` is now true. A thread waiting for its own queue to change
    (the QR notifier, for hours) is never woken by a payment that does not
    concern it.
    """

    def __init__(self) -> None:
        # Reentrant: a ready() evaluated under it may itself call notify().
        self._lock = threading.RLock()
        self._waiters: list[_Waiter] = []

    def now(self) -> datetime:
        return datetime.now(timezone.utc).astimezone()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait_until(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if ready():
                return True
            waiter = _Waiter(ready, self._lock)
            # Registered before ready() is looked at again below: a notify() racing
            # with this call either sees the waiter or happened before that look.
            self._waiters.append(waiter)
            try:
                while True:
                    if ready():
                        return True
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    waiter.wakeup.wait(remaining)
            finally:
                self._waiters.remove(waiter)

    def notify(self) -> None:
        # Read without the lock on purpose: a waiter registers itself before its
        # last look at ready(), so one that is not in the list yet will see the
        # change that this notify() announces.
        if not self._waiters:
            return
        with self._lock:
            for waiter in tuple(self._waiters):  # a ready() may wait_until() itself
                try:
                    woken = waiter.ready()
                except Exception:  # let the waiter's own thread meet the error
                    woken = True
                if woken:
                    waiter.wakeup.notify()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def work_begun(self) -> None:
        pass

    def work_done(self) -> None:
        # A reply consumed (the host link's reader) is news to whoever waits for it.
        self.notify()

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
