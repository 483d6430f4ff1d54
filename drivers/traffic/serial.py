"""Record and replay a serial scanner at the pyserial port object.

:class:`~drivers.serial_scanner.SerialScanner` reads its port through
``in_waiting`` and ``read(n)`` (and could ``write``): :class:`RecordingPort`
wraps a real ``serial.Serial`` (or ``socket://`` port) and records every
non-empty read and every write; :class:`ReplayPort` is a port whose bytes come
from the trace.

When replayed bytes arrive. A scanner speaks when the cashier pulls the
trigger, and the terminal drops codes scanned before it asks for one. So the
replay port hands out a recorded scan only when it is *released*: by the
scenario's ``scan_code`` step through :class:`ReplayScannerHand` (which also
checks the scenario scans the code the trace holds), or -- with no scenario --
by the driver's next :meth:`ReplaySerialScanner.read_code`. One release hands
out the next read and every read recorded with it (within :data:`BURST`
seconds), so a doubled scan stays doubled.
"""

from __future__ import annotations

import threading
from typing import Any

from drivers.clock import Clock
from drivers.serial_scanner import SerialScanner
from drivers.traffic import summaries
from drivers.traffic.tape import Cursor, Tape

BURST = 0.5  # seconds: reads this close together are one pull of the trigger
ARRIVAL_WAIT = 5.0  # real seconds the driver's reader thread may take to pick bytes up


SEALED = "[SEALED]"


class RecordingPort:
    """A pyserial port whose traffic is written to a :class:`Tape`."""

    def __init__(self, port: Any, tape: Tape) -> None:
        self._port = port
        self._tape = tape

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)

    @property
    def in_waiting(self) -> int:
        return int(self._port.in_waiting)

    def read(self, size: int = 1) -> bytes:
        data = bytes(self._port.read(size))
        if data:
            # A payment code is a bearer token, and may come in pieces: every read is
            # sealed, its summary masked.
            self._tape.add_sealed("read", "in", data, SEALED, summaries.describe_scan(data))
        return data

    def write(self, data: bytes) -> int | None:
        data = bytes(data)
        self._tape.add("write", "out", data.hex().upper(), f"{len(data)} bytes to the scanner")
        written: int | None = self._port.write(data)
        return written

    def close(self) -> None:
        self._port.close()


class ReplayPort:
    """A pyserial-like port that plays a scanner trace's reads once released."""

    def __init__(self, cursor: Cursor, timeout: float) -> None:
        self._cursor = cursor
        self._timeout = timeout
        self._ready = bytearray()
        self._changed = threading.Condition()
        self._closed = False
        self.is_open = True

    # -- what the driver calls -----------------------------------------------------------

    @property
    def in_waiting(self) -> int:
        with self._changed:
            return len(self._ready)

    def read(self, size: int = 1) -> bytes:
        with self._changed:
            self._changed.wait_for(lambda: self._ready or self._closed, self._timeout)
            data = bytes(self._ready[:size])
            del self._ready[:size]
            self._changed.notify_all()
            return data

    def write(self, data: bytes) -> int:
        data = bytes(data)
        cursor = self._cursor
        with cursor.lock:
            message = cursor.expect("write", "out", data.hex().upper())
            cursor.check_bytes(message, data, data.hex().upper(), lambda d: f"{len(d)} bytes")
        return len(data)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self.is_open = False
            self._changed.notify_all()

    # -- what the hand calls -------------------------------------------------------------

    def release(self) -> bytes:
        """Hand the next recorded scan (a burst of reads) to the driver; returns its bytes."""
        cursor = self._cursor
        released = bytearray()
        with cursor.lock:
            first_t: float | None = None
            while (message := cursor.peek()) is not None and message.op == "read":
                t = float(message.extra.get("t", 0.0))
                if first_t is not None and t - first_t > BURST:
                    break
                first_t = t if first_t is None else first_t
                released += cursor.payload(cursor.advance())
        if released:
            with self._changed:
                self._ready += released
                self._changed.notify_all()
        return bytes(released)

    def drained(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: not self._ready, timeout)


class ReplaySerialScanner(SerialScanner):
    """The unchanged serial scanner driver on a :class:`ReplayPort`.

    Without a scenario hand, the next recorded scan is released when the app
    asks for a code.
    """

    def __init__(self, port: ReplayPort, cursor: Cursor, **kwargs: Any) -> None:
        super().__init__(port, **kwargs)
        self.replay_port = port
        self.cursor = cursor
        self.hand_attached = False

    def read_code(self, timeout: float) -> str | None:
        if not self.hand_attached and not self._has_news():
            before = self.received()
            if self.replay_port.release():
                self.wait_received(before + 1, ARRIVAL_WAIT)
        return super().read_code(timeout)

    def close(self) -> None:
        super().close()
        self.cursor.check_finished()


class ReplayScannerHand:
    """The scenario's ``scan_code`` on a replayed scanner: releases the recorded scan
    and checks it is the code the scenario scans."""

    def __init__(self, driver: ReplaySerialScanner, clock: Clock) -> None:
        self._driver = driver
        self._clock = clock
        driver.hand_attached = True

    def scan(self, code: str, times: int = 1) -> None:
        driver = self._driver
        before = driver.received()
        self._clock.work_begun()
        try:
            message = driver.cursor.peek()
            data = driver.replay_port.release()
            if code.encode("utf-8") not in data or data.count(code.encode("utf-8")) != times:
                actual = f"scenario scans {summaries.describe_scan(code.encode())} x{times}"
                raise driver.cursor.diverged(message, actual)
            driver.wait_received(before + times, ARRIVAL_WAIT)
        finally:
            self._clock.work_done()
            self._clock.notify()
