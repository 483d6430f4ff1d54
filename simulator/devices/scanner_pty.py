"""The virtual scanner on a pseudo-terminal: a serial scanner at ``serial://<pty>``.

:class:`PtyScanner` opens a pty pair in raw mode and keeps the slave end open
(as :class:`~simulator.devices.printer.transports.pty.PtyPrinter` does); "scanning" writes
``prefix + code + suffix`` to the master, and the driver reads the slave path
like any ``/dev/ttyACM0``::

    with PtyScanner(ScannerProfile.load("generic_cdc")) as pty:
        scanner = open_device(Scanner, pty.url)
        pty.wait_host_open(5)
        pty.scan("6222021234567890")

Noise a real scanner line carries: :meth:`scan_split` (one code over several
writes), :meth:`scan` twice (a doubled scan), :meth:`garbage` (raw bytes).

**Scans before the host opened the port are lost**, as on real hardware: a
scanner has no host to deliver to, and pyserial's ``Serial.open()`` flushes the
input queue anyway. The loss is made deterministic here rather than left to
that flush racing the kernel: the master runs in packet mode (``TIOCPKT``),
which reports the host's input flush (``TIOCPKT_FLUSHREAD``) when it opens the
port; until then :meth:`scan` writes nothing and records the code in ``lost``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import struct
import termios
import threading
import tty
from types import TracebackType
from urllib.parse import urlencode

from drivers.serial_scanner import SUFFIX_BYTES, ScannerProfile

READ_SIZE = 4096


class PtyScanner:
    """A virtual serial scanner on a pty (see the module docstring)."""

    def __init__(self, profile: ScannerProfile | None = None) -> None:
        self.profile = profile or ScannerProfile(name="virtual")
        self.lost: list[str] = []
        self._lock = threading.Lock()
        self._host_open = False
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        fcntl.ioctl(self._master, termios.TIOCPKT, struct.pack("i", 1))
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._closed = False

    @property
    def url(self) -> str:
        """The driver URL with this scanner's framing spelled out."""
        query = urlencode(
            {
                "prefix": self.profile.prefix,
                "suffix": self.profile.suffix,
                "max_length": self.profile.max_length,
            }
        )
        return f"serial://{self.path}?{query}"

    # -- the host's side ------------------------------------------------------

    def host_open(self) -> bool:
        """Whether a host has opened (and flushed) the port yet."""
        with self._lock:
            self._drain()
            return self._host_open

    def wait_host_open(self, timeout: float) -> bool:
        """Wait (real time: the kernel tells, no clock does) for a host to open the port."""
        if self.host_open():
            return True
        readable, _, _ = select.select([self._master], [], [self._master], timeout)
        return self.host_open() if readable else False

    def _drain(self) -> None:
        # Packet mode: each read is one status byte, then data the host wrote.
        while True:
            try:
                packet = os.read(self._master, READ_SIZE)
            except (BlockingIOError, OSError):
                return
            if not packet:
                return
            if packet[0] & termios.TIOCPKT_FLUSHREAD:
                self._host_open = True

    # -- scanning -------------------------------------------------------------

    def frame(self, code: str) -> bytes:
        return (self.profile.prefix + code).encode() + SUFFIX_BYTES[self.profile.suffix]

    def scan(self, code: str) -> bool:
        """Deliver one scan; False (and ``lost``) when no host has the port open."""
        return self.scan_split(code, 1)

    def scan_split(self, code: str, parts: int) -> bool:
        """Deliver one scan in ``parts`` separate writes (partial reads on the host)."""
        if not self.host_open():
            self.lost.append(code)
            return False
        data = self.frame(code)
        size = max(1, -(-len(data) // max(1, parts)))
        for start in range(0, len(data), size):
            self.write(data[start : start + size])
        return True

    def garbage(self, data: bytes) -> None:
        """Write raw bytes (line noise, a misconfigured scanner) whether or not a host listens."""
        self.write(data)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                select.select([], [self._master], [], 1.0)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyScanner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
