"""The virtual printer's connector, shared by every transport, with fault injection.

Whatever carries the bytes -- in process, the user-space USB backend, a pty, a
TCP 9100 listener -- feeds them to the :class:`VirtualPrinter` through one
:class:`PrinterPort` and reads its status replies back from it. That is where
the faults a scenario or a test injects live:

* at once: paper end, paper near end, cover open, offline (the printer's own
  flags, which its status replies reflect);
* in the middle of a job: ``paper_end_after(n)`` (and ``cover_open_after``,
  ``offline_after``) lets exactly ``n`` more bytes through before the fault
  hits, so the rest of the job reaches a printer that cannot print it -- the
  way a roll runs out half-way through a receipt on a real printer;
* ``paper_lines_left(n)``: the roll holds ``n`` more printed lines.

Clearing a fault is what the operator does: :meth:`refill_paper` (a new roll;
the partial receipt left in the printer is torn off), :meth:`close_cover`,
:meth:`set_online`. The port is thread-safe: transports feed it from their own
threads while scenario steps inject faults from the runner's thread.
"""

from __future__ import annotations

import threading
from typing import Any

from escpos.escpos import Escpos

from drivers.printer_profile import PrinterProfile
from simulator.devices.paper import RenderedReceipt
from simulator.devices.printer import VirtualPrinter

REPLY_READ_SIZE = 16  # what python-escpos transports read at a time

# Faults that can be armed to hit after a number of bytes, by flag name.
DELAYED_FAULTS = ("paper_out", "cover_open", "offline")


class PrinterPort:
    """Feeds a :class:`VirtualPrinter` and injects faults (see the module docstring)."""

    def __init__(self, printer: VirtualPrinter) -> None:
        self.printer = printer
        self.bytes_fed = 0
        # Receipts that are partial prints torn off when the paper was refilled
        # (not receipts the host asked for: views and expectations leave them out).
        self.torn_off: list[RenderedReceipt] = []
        self._armed: dict[str, int] = {}  # fault flag -> bytes still let through
        self._lock = threading.RLock()

    @property
    def profile(self) -> PrinterProfile:
        return self.printer.profile

    # -- the host side ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from the host, in any chunking; armed faults hit at their byte."""
        with self._lock:
            data = bytes(data)
            while data and self._armed:
                flag, left = min(self._armed.items(), key=lambda item: item[1])
                if left >= len(data):
                    break
                if left:
                    self._feed(data[:left])
                    data = data[left:]
                self._trip(flag)
            if data:
                self._feed(data)

    def read_reply(self, size: int = REPLY_READ_SIZE) -> bytes:
        """Status bytes the printer has queued for the host (up to ``size``)."""
        return self.printer.read_reply(size)

    def _feed(self, data: bytes) -> None:
        self.printer.feed(data)
        self.bytes_fed += len(data)
        for flag in self._armed:
            self._armed[flag] -= len(data)

    def _trip(self, flag: str) -> None:
        del self._armed[flag]
        setattr(self.printer, flag, True)

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
            printer = self.printer
            for flag, value in (
                ("paper_out", paper_end),
                ("paper_near_end", paper_near_end),
                ("cover_open", cover_open),
                ("offline", offline),
            ):
                if value is not None:
                    self._armed.pop(flag, None)
                    setattr(printer, flag, value)
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
                printer.paper_left = paper_lines_left
                if paper_lines_left == 0:
                    printer.paper_out = True

    def armed(self) -> dict[str, int]:
        """Faults waiting for their byte: flag -> bytes still let through."""
        with self._lock:
            return dict(self._armed)

    def refill_paper(self) -> None:
        """Load a new roll: paper end and near end clear, the partial print is torn off."""
        with self._lock:
            printer = self.printer
            self._armed.pop("paper_out", None)
            printer.paper_out = False
            printer.paper_near_end = False
            printer.paper_left = None
            self._tear_off()

    def close_cover(self) -> None:
        with self._lock:
            self._armed.pop("cover_open", None)
            self.printer.cover_open = False

    def set_online(self) -> None:
        with self._lock:
            self._armed.pop("offline", None)
            self.printer.offline = False

    def _tear_off(self) -> None:
        """Take what was printed since the last cut off the printer, as a torn-off piece."""
        piece = self.printer.tear_off()  # not a receipt: not in ``receipts``, no hook
        if piece is not None:
            self.torn_off.append(piece)

    def receipts(self) -> list[RenderedReceipt]:
        """The receipts the host printed (torn-off partial prints are not among them)."""
        with self._lock:
            return list(self.printer.receipts)


class PortEscpos(Escpos):  # type: ignore[misc]  # python-escpos is untyped
    """A python-escpos printer whose transport is a :class:`PrinterPort` (in process)."""

    def __init__(self, port: PrinterPort, **kwargs: Any) -> None:
        kwargs.setdefault("profile", port.profile.escpos_profile)
        super().__init__(**kwargs)
        self.port = port

    def open(self) -> None:
        self.device = self.port

    def _raw(self, msg: bytes) -> None:
        self.port.feed(bytes(msg))

    def _read(self) -> bytes:
        return self.port.read_reply()

    def close(self) -> None:
        """Nothing to release: the virtual printer lives on for inspection."""
