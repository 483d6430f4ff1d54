"""python-escpos printer classes that reach the virtual printer by a method call.

:class:`InProcessEscpos` writes straight into a :class:`VirtualPrinter`;
:class:`PortEscpos` goes through its :class:`PrinterPort`, so armed faults hit
(the ``sim`` transport of :mod:`simulator.devices.printer.link`). Either way the
unchanged python-escpos API -- and :class:`drivers.printer.escpos.EscposPrinter`
on top of it -- drives the virtual printer in process, with no device between.
"""

from __future__ import annotations

from typing import Any

from escpos.escpos import Escpos

from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.port import PrinterPort


class InProcessEscpos(Escpos):  # type: ignore[misc]  # python-escpos is untyped
    """A python-escpos printer whose transport is a :class:`VirtualPrinter`."""

    def __init__(self, virtual: VirtualPrinter, **kwargs: Any) -> None:
        kwargs.setdefault("profile", virtual.profile.escpos_profile)
        super().__init__(**kwargs)
        self.virtual = virtual

    def open(self) -> None:
        self.device = self.virtual

    def _raw(self, msg: bytes) -> None:
        self.virtual.feed(bytes(msg))

    def _read(self) -> bytes:
        return self.virtual.read_reply()

    def close(self) -> None:
        """Nothing to release: the virtual printer lives on for inspection."""


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
