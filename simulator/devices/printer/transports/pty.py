"""The virtual printer on a pseudo-terminal: a serial printer at ``serial://<pty>``.

:class:`PtyPrinter` opens a pty pair in raw mode (no echo, no line
discipline), keeps the slave end open -- so the master never sees a hang-up
when a client closes the port and a later client can reopen it -- and runs a
thread that feeds whatever the host writes to the
:class:`~simulator.devices.printer.port.PrinterPort` and writes the printer's
status replies back. ``escpos.printer.Serial`` (pyserial) opens the slave path
like any ``/dev/ttyUSB0``::

    with PtyPrinter(port) as pty:
        open_device(Printer, f"serial://{pty.path}")

Input is never validated here: the interpreter survives any byte stream, and
an error on the pty is recorded in ``errors`` (the newest :data:`ERRORS_KEPT`)
and told to each ``on_error`` hook while the thread carries on. A serial line
has no connections: the pty's whole life is one
:class:`~simulator.devices.printer.connections.Connection` of the port.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
import tty
from collections.abc import Callable
from types import TracebackType

from simulator.devices.printer.port import PrinterPort
from simulator.devices.printer.retention import Retained

READ_SIZE = 4096
REPLY_DRAIN = 4096
ERRORS_KEPT = 1000  # a server's own errors (resets, timeouts ...) kept for inspection


def drain_replies(port: PrinterPort) -> bytes:
    """Every status byte the printer has queued."""
    replies = bytearray()
    while True:
        chunk = port.read_reply(REPLY_DRAIN)
        if not chunk:
            return bytes(replies)
        replies += chunk


class PtyPrinter:
    """A virtual serial printer on a pty (see the module docstring)."""

    def __init__(self, port: PrinterPort) -> None:
        self.port = port
        self.errors: Retained[str] = Retained(ERRORS_KEPT)
        self.on_error: list[Callable[[str], None]] = []  # called from the pty's thread
        self.bytes_in = 0
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self.connection = port.open_connection(f"pty {self.path}")
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="possim-printer-pty", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"serial://{self.path}"

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._master, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping:
                for key, _ in selector.select():
                    if key.fd == self._wake_r:
                        return
                    self._serve()

    def _serve(self) -> None:
        try:
            data = os.read(self._master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO means no slave is open: not while we hold one
            self._note(f"pty read failed: {exc}")
            return
        if not data:
            return
        self.bytes_in += len(data)
        try:
            self.port.feed(data, self.connection)
            reply = drain_replies(self.port)
        except Exception as exc:  # the printer must outlive any input
            self._note(f"printer failed on {len(data)} bytes: {exc!r}")
            return
        self._write(reply)

    def _write(self, reply: bytes) -> None:
        view = memoryview(reply)
        while view:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                # The host is not reading: its input queue is full. Replies are
                # real-time status a host reads at once; drop the rest.
                self._note(f"host not reading: {len(view)} reply byte(s) dropped")
                return
            except OSError as exc:
                self._note(f"pty write failed: {exc}")
                return
            view = view[written:]

    def _note(self, message: str) -> None:
        self.errors.append(message)
        for hook in list(self.on_error):
            hook(message)

    def close(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join(5.0)
        self.port.close_connection(self.connection, "pty closed")
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyPrinter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
