"""A virtual ESC/POS receipt printer.

:class:`VirtualPrinter` interprets the ESC/POS byte stream a real thermal
printer receives -- in whatever chunks the transport delivers it -- and keeps a
paper model (:mod:`.paper`): every printed line with its text and attributes,
cut into :class:`~.paper.RenderedReceipt` objects. It answers the real-time
status queries (``DLE EOT n``, ``GS r n``) with the bytes a real printer sends,
reflecting the fault flags in ``printer.faults`` (:class:`~.faults.PrinterFaults`:
paper out, paper near end, cover open, offline, feed button, recoverable /
autocutter / unrecoverable errors, head overheat) that tests and scenarios set.

Malformed or unknown commands never raise: each is reported as an
:class:`~.diagnostics.EscposDiagnostic` (``diagnostics``, its message also in
``errors``, and to every ``on_diagnostic`` hook) with its byte offset in the
stream, and skipped by its known length, so the rest of the stream still
prints; a command cut short waits for the rest of its bytes; a declared size
over what the modelled printer accepts (:mod:`.limits`) cancels the command.
What the printer keeps -- receipts, diagnostics, unprinted lines, the paper
since the last cut, queued replies -- is capped (:mod:`.retention`), with
counts of what was dropped (``dropped``).

The printer is one interpreter and one mixin per command family, each module
stating its commands, its contract and its simplifications:

==================  ==========================================================
:mod:`.interpreter`  the buffer, the dispatch tables, incomplete commands
:mod:`.feed`         the line, the paper, feeds and cuts (faults stop it)
:mod:`.text`         characters, code pages, Chinese, styles, tabs
:mod:`.layout`       alignment, margins, print area and position, spacing
:mod:`.graphics`     raster, column and stored images
:mod:`.codes`        barcodes and 2-D codes
:mod:`.realtime`     status replies, error recovery, the cash drawer
:mod:`.faults`       the fault flags
==================  ==========================================================

Around it: :mod:`.port` (what every transport feeds, with fault injection),
:mod:`.link` (the terminal's driver over a transport, :data:`~.link.TRANSPORTS`),
:mod:`.transports` (USB, pty, TCP), :mod:`.inprocess` (python-escpos classes
that reach it by a method call), :mod:`.render` (a receipt as PNG) and
:mod:`.capture` (what a captured byte stream prints).

Simplifications (documented so nobody relies on them; details in each
module): standard mode only (page mode is reported and ignored); character
spacing and motion units are accepted and ignored; user-defined characters,
downloaded and NV bit images are skipped and reported; ``ESC J`` feeds whole
lines; codes and raster images print on a line of their own; ``GS L``,
``GS W`` and ``ESC {`` sent in the middle of a line are reported and ignored;
``ESC !`` sizes apply to Chinese characters too, as on Chinese-market printers.

>>> from drivers.printer.profile import PrinterProfile
>>> printer = VirtualPrinter(PrinterProfile.load("generic_58mm"))
>>> printer.feed(b"\\x1b@\\x1ba\\x01Thank you\\n\\x1dV\\x00")
>>> printer.receipts[0].text.strip()
'Thank you'
>>> printer.feed(b"\\x10\\x04\\x04")  # DLE EOT 4: roll paper sensor
>>> printer.read_reply().hex()
'12'
"""

from __future__ import annotations

from drivers.printer.profile import PrinterProfile
from simulator.devices.printer.codes import CodeCommands
from simulator.devices.printer.feed import PaperFeed
from simulator.devices.printer.graphics import GraphicsCommands
from simulator.devices.printer.layout import LayoutCommands
from simulator.devices.printer.realtime import RealtimeCommands
from simulator.devices.printer.retention import Retention
from simulator.devices.printer.text import TextCommands

__all__ = ["VirtualPrinter"]


class VirtualPrinter(
    TextCommands,
    LayoutCommands,
    GraphicsCommands,
    CodeCommands,
    RealtimeCommands,
    PaperFeed,
):
    """An incremental ESC/POS interpreter with a paper model (see the package docstring)."""

    def __init__(self, profile: PrinterProfile, retention: Retention | None = None) -> None:
        super().__init__(profile, retention)
        self._reset_modes()

    def _reset_modes(self) -> None:
        self._reset_text()
        self._reset_format()
        self._reset_codes()
        self._reset_graphics()
        self._clear_line()
