"""The virtual printer's connector, shared by every transport, with fault injection.

Whatever carries the bytes -- in process, the user-space USB backend, a pty, a
TCP 9100 listener -- feeds them to the :class:`VirtualPrinter` through one
:class:`PrinterPort` and reads its status replies back from it. That is where
the faults a scenario or a test injects live:

* at once: paper end, paper near end, cover open, offline (the printer's own
  flags, ``printer.faults``, which its status replies reflect);
* in the middle of a job: ``paper_end_after(n)`` (and ``cover_open_after``,
  ``offline_after``) lets exactly ``n`` more bytes through before the fault
  hits, so the rest of the job reaches a printer that cannot print it -- the
  way a roll runs out half-way through a receipt on a real printer;
* ``paper_lines_left(n)``: the roll holds ``n`` more printed lines.

Clearing a fault is what the operator does: :meth:`refill_paper` (a new roll;
the partial receipt left in the printer is torn off), :meth:`close_cover`,
:meth:`set_online`. The port is thread-safe: transports feed it from their own
threads while scenario steps inject faults from the runner's thread.

Transports that have connections (TCP clients, a pty) open one per client
and feed through it, so a problem is located by connection and by offset in
that connection's stream (:meth:`locate`). A connection that closes in the
middle of a command -- a header declaring more bytes than ever came -- has that
command discarded (:meth:`close_connection`): possim takes a connection to be a
job, so the next client's ``DLE EOT`` is answered rather than swallowed as the
rest of someone else's image.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from drivers.printer.profile import PrinterProfile
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.connections import Connection, Located, StreamMap
from simulator.devices.printer.paper import RenderedReceipt
from simulator.devices.printer.retention import Retained

REPLY_READ_SIZE = 16  # what python-escpos transports read at a time

# Faults that can be armed to hit after a number of bytes, by flag name.
DELAYED_FAULTS = ("paper_out", "cover_open", "offline")
TORN_OFF_KEPT = 100

ConnectionHook = Callable[[Connection], None]


class PrinterPort:
    """Feeds a :class:`VirtualPrinter` and injects faults (see the module docstring)."""

    def __init__(self, printer: VirtualPrinter) -> None:
        self.printer = printer
        self.bytes_fed = 0
        # Receipts that are partial prints torn off when the paper was refilled
        # (not receipts the host asked for: views and expectations leave them out).
        self.torn_off: Retained[RenderedReceipt] = Retained(TORN_OFF_KEPT)
        self.current: Connection | None = None  # whose bytes are being fed right now
        self.on_connection_closed: list[ConnectionHook] = []
        self._armed: dict[str, int] = {}  # fault flag -> bytes still let through
        self._lock = threading.RLock()
        self._connection_ids = itertools.count(1)
        self._streams = StreamMap()

    @property
    def profile(self) -> PrinterProfile:
        return self.printer.profile

    # -- the host side ------------------------------------------------------------

    def feed(self, data: bytes, connection: Connection | None = None) -> None:
        """Bytes from the host, in any chunking; armed faults hit at their byte."""
        with self._lock:
            data = bytes(data)
            self.current = connection
            try:
                while data and self._armed:
                    flag, left = min(self._armed.items(), key=lambda item: item[1])
                    if left >= len(data):
                        break
                    if left:
                        self._feed(data[:left], connection)
                        data = data[left:]
                    self._trip(flag)
                if data:
                    self._feed(data, connection)
            finally:
                self.current = None
                self._streams.forget_before(self.printer.interpreted)

    def read_reply(self, size: int = REPLY_READ_SIZE) -> bytes:
        """Status bytes the printer has queued for the host (up to ``size``)."""
        return self.printer.read_reply(size)

    def _feed(self, data: bytes, connection: Connection | None) -> None:
        if connection is not None:
            self._streams.add(
                self.printer.bytes_received, connection, connection.bytes_in, len(data)
            )
            connection.bytes_in += len(data)
        self.printer.feed(data)
        self.bytes_fed += len(data)
        for flag in self._armed:
            self._armed[flag] -= len(data)

    # -- connections ------------------------------------------------------------------

    def open_connection(self, label: str) -> Connection:
        """A new host connection (``label`` says what it is, e.g. ``tcp 127.0.0.1:40112``)."""
        with self._lock:
            return Connection(next(self._connection_ids), label)

    def close_connection(self, connection: Connection, why: str = "connection closed") -> None:
        """The connection is gone: a command it left incomplete is discarded (see above)."""
        with self._lock:
            pending = self.printer.interpreted
            if self.printer.awaiting:
                located = self._streams.locate(pending)
                if located is not None and located.connection is connection:
                    self.current = connection
                    try:
                        self.printer.discard_incomplete(why)
                    finally:
                        self.current = None
                    self._streams.forget_before(self.printer.interpreted)
            hooks = list(self.on_connection_closed)
        for hook in hooks:
            hook(connection)

    def locate(self, stream_offset: int) -> Located | None:
        """The connection that sent the byte at ``stream_offset``, and where in its stream.

        Known for the bytes the printer is interpreting or still waiting on --
        the offsets its diagnostics carry while it reports them.
        """
        with self._lock:
            return self._streams.locate(stream_offset)

    def _trip(self, flag: str) -> None:
        del self._armed[flag]
        setattr(self.printer.faults, flag, True)

    # -- faults -------------------------------------------------------------------

    def inject(
        self,
        *,
        paper_end: bool | None = None,
        paper_near_end: bool | None = None,
        cover_open: bool | None = None,
        offline: bool | None = None,
        paper_end_after: int | None = None,
        cover_open_after: int | None = None,
        offline_after: int | None = None,
        paper_lines_left: int | None = None,
    ) -> None:
        """Set (True) or clear (False) faults now, or arm them for after n more bytes."""
        with self._lock:
            faults = self.printer.faults
            for flag, value in (
                ("paper_out", paper_end),
                ("paper_near_end", paper_near_end),
                ("cover_open", cover_open),
                ("offline", offline),
            ):
                if value is not None:
                    self._armed.pop(flag, None)
                    setattr(faults, flag, value)
            for flag, after in (
                ("paper_out", paper_end_after),
                ("cover_open", cover_open_after),
                ("offline", offline_after),
            ):
                if after is None:
                    continue
                if after < 0:
                    raise ValueError(f"{flag} after {after} bytes: must be 0 or more")
                self._armed[flag] = after
                if after == 0:
                    self._trip(flag)
            if paper_lines_left is not None:
                if paper_lines_left < 0:
                    raise ValueError("paper_lines_left must be 0 or more")
                faults.paper_left = paper_lines_left
                if paper_lines_left == 0:
                    faults.paper_out = True

    def armed(self) -> dict[str, int]:
        """Faults waiting for their byte: flag -> bytes still let through."""
        with self._lock:
            return dict(self._armed)

    def refill_paper(self) -> None:
        """Load a new roll: paper end and near end clear, the partial print is torn off."""
        with self._lock:
            faults = self.printer.faults
            self._armed.pop("paper_out", None)
            faults.paper_out = False
            faults.paper_near_end = False
            faults.paper_left = None
            self._tear_off()

    def close_cover(self) -> None:
        with self._lock:
            self._armed.pop("cover_open", None)
            self.printer.faults.cover_open = False

    def set_online(self) -> None:
        with self._lock:
            self._armed.pop("offline", None)
            self.printer.faults.offline = False

    def _tear_off(self) -> None:
        """Take what was printed since the last cut off the printer, as a torn-off piece."""
        piece = self.printer.tear_off()  # not a receipt: not in ``receipts``, no hook
        if piece is not None:
            self.torn_off.append(piece)

    def receipts(self) -> list[RenderedReceipt]:
        """The receipts the host printed (torn-off partial prints are not among them)."""
        with self._lock:
            return list(self.printer.receipts)
