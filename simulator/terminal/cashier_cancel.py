"""The cashier's CANCEL while a payment waits for the customer.

Smart-POS acquiring apps let the cashier cancel while they wait for a card, for
the customer's payment code or for the customer to pay (a dynamic QR shown, a
USERPAYING payment to confirm on the phone) -- never once the terminal talks to
the host or the card. So a payment opens a *window* around each such wait
(:meth:`CashierCancel.waiting`), and :meth:`CashierCancel.request`, from any
thread, is taken only while one is open. It wakes the waiting thread through the
clock (``clock.notify()``): the waits' predicates read :attr:`CashierCancel.requested`.

A request lives no longer than its window, so it can never cancel the next sale.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from drivers.clock import Clock
from simulator.errors import TerminalError
from simulator.events import EventBus
from simulator.terminal.acquiring_events import CancelPressed

CANCELLED_BY_CASHIER = "cancelled by the cashier"


class CancelRefused(TerminalError):
    """CANCEL came while the terminal does something that cannot be cancelled."""


class CancelWindow:
    """One cancellable wait; ``cancelled`` tells, once it is closed, whether CANCEL came."""

    __slots__ = ("cancelled", "waiting_for")

    def __init__(self, waiting_for: str) -> None:
        self.waiting_for = waiting_for
        self.cancelled = False


class CashierCancel:
    def __init__(self, clock: Clock, bus: EventBus) -> None:
        self._clock = clock
        self._bus = bus
        self._lock = threading.Lock()
        self._window: CancelWindow | None = None
        self._requested = False

    @property
    def requested(self) -> bool:
        """Whether CANCEL came in the open window. Cheap and lock-free: a clock predicate."""
        return self._requested

    @contextmanager
    def waiting(self, waiting_for: str) -> Iterator[CancelWindow]:
        """Take CANCEL while the block waits for ``waiting_for`` (e.g. "the card").

        Closing the window and reading whether CANCEL came is one step under the
        lock, so a request either lands in ``window.cancelled`` or is refused.
        """
        window = CancelWindow(waiting_for)
        with self._lock:
            self._window, self._requested = window, False
        try:
            yield window
        finally:
            with self._lock:
                window.cancelled = self._requested
                self._window, self._requested = None, False

    def request(self) -> bool:
        """The cashier pressed CANCEL: True if a waiting payment took it, else False."""
        with self._lock:
            window = self._window
            if window is None:
                return False
            if not self._requested:
                # Published before the flag is set, so the transcript always shows
                # the request before what the payment does about it.
                self._bus.publish(CancelPressed(True, window.waiting_for))
                self._requested = True
        self._clock.notify()
        return True
