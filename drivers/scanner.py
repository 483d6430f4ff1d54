"""Barcode/QR scanners that deliver each scan as a line of text."""

from __future__ import annotations

import abc
import contextlib
import threading
from collections import deque
from typing import ClassVar

from drivers.clock import Clock, poll_until
from drivers.errors import DeviceUnavailable

MAX_QUEUED_CODES = 256  # codes scanned and not yet read by the app


class Scanner(abc.ABC):
    # The name configurations, traces and --pos-<device> options use (drivers.kinds).
    device_kind: ClassVar[str] = "scanner"

    @abc.abstractmethod
    def read_code(self, timeout: float) -> str | None:
        """The next scanned code, stripped of framing; ``None`` on timeout."""

    def take_scan(self) -> str | None:
        """One code already scanned, or ``None``; never waits."""
        return self.read_code(0)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device."""


READ_SLICE = 0.05  # seconds: longest a reader thread's read blocks, so close() is prompt


class ThreadedScanner(Scanner):
    """A scanner whose device is read by a thread of its own into a queue of codes.

    Subclasses read their device in :meth:`_run` (until ``self._stopping`` is set),
    append codes with :meth:`_deliver` under ``self._lock`` and call
    ``self._clock.notify()`` afterwards; a failed device is :meth:`_fail`.
    """

    def __init__(self, *, clock: Clock, name: str, thread_name: str) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._codes: deque[str] = deque()
        self._received = 0
        self._failed: str | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    # -- the app's side -------------------------------------------------------

    def read_code(self, timeout: float) -> str | None:
        ready = poll_until(self._clock, self._has_news, timeout, interval=READ_SLICE)
        with self._lock:
            if self._codes:
                return self._codes.popleft()
        if ready and self._failed is not None:
            raise DeviceUnavailable(f"scanner {self.name}: {self._failed}")
        return None

    def take_scan(self) -> str | None:
        """One code already received, or ``None``; never waits."""
        with self._lock:
            return self._codes.popleft() if self._codes else None

    def received(self) -> int:
        """How many complete codes have arrived since the device was opened."""
        with self._lock:
            return self._received

    def wait_received(self, count: int, timeout: float) -> bool:
        """Block (real time) until ``count`` codes have arrived since the device opened.

        For whoever feeds the device and must know the input reached the driver
        (the virtual scanner on a pty); the terminal waits with :meth:`read_code`.
        """
        with self._changed:
            return self._changed.wait_for(lambda: self._received >= count, timeout)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(5.0)
        with contextlib.suppress(Exception):
            self._close_device()

    # -- the reader thread's side ---------------------------------------------

    @abc.abstractmethod
    def _run(self) -> None:
        """Read the device until ``self._stopping`` is set."""

    @abc.abstractmethod
    def _close_device(self) -> None:
        """Release the device (after the reader thread has stopped)."""

    def _has_news(self) -> bool:
        return bool(self._codes) or self._failed is not None

    def _fail(self, problem: str) -> None:
        """The device failed (unplugged, closed): ``read_code`` raises from now on.
        Call with ``self._lock`` held."""
        self._failed = problem
        self._changed.notify_all()

    def _deliver(self, code: str) -> bool:
        """Queue ``code`` (with ``self._lock`` held); False if the queue is full."""
        self._received += 1
        self._changed.notify_all()
        if len(self._codes) >= MAX_QUEUED_CODES:
            return False
        self._codes.append(code)
        return True
