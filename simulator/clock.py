"""Virtual time for deterministic simulations.

The virtual clock is a small discrete-event scheduler shared by the threads of
one simulation (the scenario runner, the terminal app, the gateway):

* a thread that runs simulation work is an *actor* (``with clock.actor():``);
* an actor that calls :meth:`VirtualClock.wait_until` is idle until its
  condition holds or its deadline passes;
* a message handed to a simulated peer is *work in flight*
  (:meth:`work_begun`) until its receiver consumes it or the peer drops it
  (:meth:`work_done`).

Time jumps straight to the earliest deadline as soon as every actor is idle,
nothing is in flight and no waiter's condition holds -- so a 30 s host timeout
takes microseconds, and the same scenario always sees the same timestamps.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from drivers.clock import RealClock
from simulator.errors import ClockStalled, SimulatorError

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
DEFAULT_EPOCH = datetime(2026, 1, 15, 10, 30, 0, tzinfo=CHINA_STANDARD_TIME)


class _Waiter:
    __slots__ = ("deadline", "ready", "wakeup")

    def __init__(
        self, ready: Callable[[], bool], deadline: float, wakeup: threading.Condition
    ) -> None:
        self.ready = ready
        self.deadline = deadline
        self.wakeup = wakeup  # its thread's own condition on the clock's lock


def _due(waiter: _Waiter) -> float:
    return waiter.deadline


class VirtualClock:
    """A clock whose time only moves when the simulation is quiescent."""

    def __init__(self, start: datetime = DEFAULT_EPOCH, *, stall_timeout: float = 30.0) -> None:
        if start.tzinfo is None:
            raise ValueError("the virtual clock needs a timezone-aware start time")
        self._start = start
        self._elapsed = 0.0
        self._mutex = threading.RLock()
        self._cond = threading.Condition(self._mutex)
        self._actors = 0
        self._in_flight = 0
        self._waiters: list[_Waiter] = []
        # Threads blocked in settle() that are themselves actors: they may go
        # on once the actor count drops to this many (see _wake).
        self._settling_actors = 0
        # Bumped on every state change: a blocked thread that sees it move has
        # not stalled, even if nobody had to wake it.
        self._progress = 0
        self._now = start
        self._local = threading.local()
        # Real seconds without any progress before a wait is declared stuck:
        # a guard against simulation bugs, never part of a scenario's timing.
        self._stall_timeout = stall_timeout

    # -- Clock protocol -------------------------------------------------------

    def now(self) -> datetime:
        # One attribute read is atomic; both values change together, under the lock.
        return self._now

    def monotonic(self) -> float:
        return self._elapsed

    def wait_until(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        with self._cond:
            if ready():
                return True
            deadline = math.inf if timeout is None else self._elapsed + timeout
            waiter = _Waiter(ready, deadline, self._wakeup())
            self._waiters.append(waiter)
            is_actor = self._is_actor()
            if is_actor:
                self._actors -= 1
                # Someone may be settling, waiting for this thread to go idle.
                self._wake()
            try:
                while True:
                    if ready():
                        return True
                    if self._elapsed >= deadline:
                        return False
                    self._advance_if_quiescent()
                    if ready() or self._elapsed >= deadline:
                        continue
                    self._block(waiter.wakeup)
            finally:
                self._waiters.remove(waiter)
                if is_actor:
                    self._actors += 1
                else:
                    # A ready waiter that leaves may be what a settling thread waits for.
                    self._wake()

    def notify(self) -> None:
        with self._cond:
            self._wake()

    def sleep(self, seconds: float) -> None:
        self.wait_until(lambda: False, seconds)

    def work_begun(self) -> None:
        with self._cond:
            self._in_flight += 1

    def work_done(self) -> None:
        with self._cond:
            # A peer may report a message nobody counted (a raw client that is
            # not part of the simulation); never let the count go negative.
            self._in_flight = max(0, self._in_flight - 1)
            self._advance_if_quiescent()
            self._wake()

    # -- simulation control ---------------------------------------------------

    @contextmanager
    def actor(self) -> Iterator[None]:
        """Count the calling thread as busy while it runs simulation work."""
        depth = getattr(self._local, "depth", 0)
        with self._cond:
            if depth == 0:
                self._actors += 1
            self._local.depth = depth + 1
        try:
            yield
        finally:
            with self._cond:
                self._local.depth = depth
                if depth == 0:
                    self._actors -= 1
                    self._advance_if_quiescent()
                self._wake()

    def advance(self, seconds: float) -> None:
        """Move time forward explicitly (a scenario's ``wait`` step)."""
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        with self._cond:
            self._set_elapsed(self._elapsed + seconds)
            self._notify_all()

    def settle(self) -> None:
        """Block the calling actor until every *other* actor is idle.

        Time does not move while settling: the caller stays busy. Used by the
        scenario runner so each step starts from a quiet, reproducible state.
        """
        own = 1 if self._is_actor() else 0
        with self._cond:
            self._settling_actors += own
            try:
                while not (
                    self._actors == own
                    and self._in_flight == 0
                    and not any(w.ready() for w in self._waiters)
                ):
                    self._block()
            finally:
                self._settling_actors -= own

    # -- internals ------------------------------------------------------------

    def _is_actor(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    def _set_elapsed(self, elapsed: float) -> None:
        self._elapsed = elapsed
        self._now = self._start + timedelta(seconds=elapsed)

    def _wake(self) -> None:
        """Wake the blocked threads if the change just made can let one go on.

        Called under the lock after every change to the shared state. A waiter
        can go on once its condition holds; a settling thread, or time itself,
        only once the actor count is down and nothing is in flight. Waking
        every blocked thread on every change instead costs a thread switch per
        event, most of them for nothing -- so each waiter has its own
        condition: one whose condition does not hold sleeps on (an idle
        notifier, say), and settling threads wait on the clock's own. When
        time may move, the waiter due first moves it, which wakes every waiter.
        """
        self._progress += 1
        if self._in_flight == 0 and self._actors <= self._settling_actors:
            self._cond.notify_all()  # the settling threads
            if self._actors == 0 and self._waiters:
                min(self._waiters, key=_due).wakeup.notify()
        for waiter in self._waiters:
            if waiter.ready():
                waiter.wakeup.notify()

    def _notify_all(self) -> None:
        self._cond.notify_all()
        for waiter in self._waiters:
            waiter.wakeup.notify()

    def _wakeup(self) -> threading.Condition:
        """The calling thread's own condition, to wake it alone (see _wake)."""
        wakeup: threading.Condition | None = getattr(self._local, "wakeup", None)
        if wakeup is None:
            wakeup = self._local.wakeup = threading.Condition(self._mutex)
        return wakeup

    def _block(self, wakeup: threading.Condition | None = None) -> None:
        """Wait for a wake-up; stalled once no progress is made for the stall timeout."""
        seen = self._progress
        cond = self._cond if wakeup is None else wakeup
        while not cond.wait(self._stall_timeout):
            if self._progress == seen:
                raise ClockStalled(self._describe())
            seen = self._progress

    def _advance_if_quiescent(self) -> None:
        if self._actors > 0 or self._in_flight > 0 or not self._waiters:
            return
        if any(w.ready() for w in self._waiters):
            return
        next_deadline = min(w.deadline for w in self._waiters)
        if math.isinf(next_deadline):
            return
        if next_deadline > self._elapsed:
            self._set_elapsed(next_deadline)
        self._progress += 1
        self._notify_all()

    def _describe(self) -> str:
        ready = sum(1 for w in self._waiters if w.ready())
        return (
            f"virtual clock stalled at +{self._elapsed:.3f}s: {self._actors} busy actor(s), "
            f"{self._in_flight} message(s) in flight, {len(self._waiters)} waiter(s) "
            f"({ready} ready); "
            "a thread changed shared state without calling clock.notify(), or a peer "
            "never answered or dropped a message"
        )


class WallClock(VirtualClock):
    """The wall clock behind :class:`VirtualClock`'s interface: a shop served to
    people and outside apps (``possim serve``) runs on real time, yet every part
    of the shop keeps the type it was written for.

    Time cannot be moved by hand here (:meth:`advance` raises
    :class:`~simulator.errors.SimulatorError`); :meth:`settle` waits until the shop
    has gone quiet.
    """

    # Real seconds without news (no event, no reply) that count as settled.
    QUIET = 0.3
    # Real seconds settle() waits for that at most (a shop that never goes quiet).
    SETTLE_AT_MOST = 10.0

    def __init__(self) -> None:
        super().__init__()
        self._real = RealClock()
        self._last_news = self._real.monotonic()

    def now(self) -> datetime:
        return self._real.now()

    def monotonic(self) -> float:
        return self._real.monotonic()

    def wait_until(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        return self._real.wait_until(ready, timeout)

    def notify(self) -> None:
        self._last_news = self._real.monotonic()
        self._real.notify()

    def sleep(self, seconds: float) -> None:
        self._real.sleep(seconds)

    def work_begun(self) -> None:
        pass

    def work_done(self) -> None:
        self._real.work_done()

    @contextmanager
    def actor(self) -> Iterator[None]:
        yield

    def advance(self, seconds: float) -> None:
        raise SimulatorError("this shop runs on the real clock: time cannot be moved by hand")

    def settle(self) -> None:
        """Wait until nothing has happened for :attr:`QUIET` s (at most
        :attr:`SETTLE_AT_MOST`): on the real clock, a shop is settled when it has gone
        quiet, the way a person at the counter waits for the terminal."""
        end = self._real.monotonic() + self.SETTLE_AT_MOST
        while True:
            now = self._real.monotonic()
            quiet_at = self._last_news + self.QUIET
            if now >= quiet_at or now >= end:
                return
            self._real.sleep(min(quiet_at, end) - now)
