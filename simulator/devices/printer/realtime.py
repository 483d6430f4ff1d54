"""What the printer answers and its drawer: ``DLE EOT``, ``GS r``, ``GS I``, ``DLE ENQ``, pulses.

:class:`RealtimeCommands` queues the status bytes a real printer sends --
``DLE EOT n`` (n 1-4) and ``GS r n`` reflect ``printer.faults`` with Epson's
bit layouts (:mod:`simulator.devices.printer.status`), ``GS I`` answers model,
type and ROM ids -- for the host to read (``read_reply``). ``DLE ENQ 1/2``
recovers from recoverable and autocutter errors (2 also clears the line
buffer); ``DLE DC4 8`` clears the buffers. Drawer kick-out pulses (``ESC p``,
``DLE DC4 1``) are counted (``drawer_kicks``).

Real-time commands are answered whatever the printer's state: a printer
that cannot print still says why.
"""

from __future__ import annotations

from drivers.printer.profile import PrinterProfile
from drivers.wire.escpos import DLE, ESC, GS
from simulator.devices.printer.feed import PaperFeed
from simulator.devices.printer.interpreter import control, fixed
from simulator.devices.printer.retention import Retention
from simulator.devices.printer.status import dle_eot, gs_r
from simulator.devices.printer.tables import command_name


class RealtimeCommands(PaperFeed):
    """Status replies, error recovery and the cash drawer (see the module docstring)."""

    def __init__(self, profile: PrinterProfile, retention: Retention | None = None) -> None:
        super().__init__(profile, retention)
        self.drawer_kicks = 0

    def status_byte(self, n: int) -> int:
        """The byte this printer answers to ``DLE EOT n`` (n = 1..4) right now."""
        return dle_eot(n, self.faults)

    @control(DLE)
    def _dle(self, buffer: bytearray, pos: int) -> int:
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        code, n = buffer[pos + 1], buffer[pos + 2]
        if code == 0x04:  # DLE EOT n: real-time status
            if 1 <= n <= 4:
                self._reply(self.status_byte(n))
            else:
                self._error(pos, "DLE EOT", f"n={n} is not a status type (1-4); no reply")
            return 3
        if code == 0x05:  # DLE ENQ n: real-time request to the printer
            if n in (1, 2):  # recover from a recoverable error (2: and clear the buffers)
                self.faults.recoverable_error = False
                self.faults.cutter_error = False
                if n == 2:
                    self._clear_line()
            return 3
        if code == 0x14:  # DLE DC4 fn ...
            sizes = {1: 2, 2: 2, 7: 1, 8: 7}
            extra = sizes.get(n)
            if extra is None:
                self._error(pos, "DLE DC4", f"unknown function {n}; skipped")
                return 3
            end = pos + 3 + extra
            if len(buffer) < end:
                return -(end - len(buffer))
            if n == 1:
                self.drawer_kicks += 1
            elif n == 8:  # clear buffers
                self._clear_line()
            return end - pos
        self._error(pos, command_name("DLE", code), "unknown real-time command; skipped")
        return 1

    @fixed(GS, "r", params=1)
    def _transmit_status(self, params: bytes, pos: int) -> None:
        value = gs_r(params[0], self.faults)
        if value is None:
            self._error(pos, "GS r", f"n={params[0]} is not a status type (1, 2, 4); no reply")
        else:
            self._reply(value)

    @fixed(GS, "I", params=1)
    def _transmit_id(self, params: bytes, pos: int) -> None:
        n = params[0]
        if n in (1, 49):
            self._reply(0x20)  # model ID
        elif n in (2, 50):  # type ID: bit 0 double-byte font, bit 1 autocutter
            self._reply(0x02 | (0x01 if self.profile.supports_cjk else 0x00))
        elif n in (3, 51):
            self._reply(0x01)  # ROM version
        else:
            self._error(pos, "GS I", f"n={n} is not supported; no reply")

    @fixed(ESC, "p", params=3)
    def _drawer_pulse(self, params: bytes, pos: int) -> None:
        if params[0] in (0, 1, 48, 49):
            self.drawer_kicks += 1
        else:
            self._error(pos, "ESC p", f"connector pin m={params[0]} is not 0/1; no pulse")
