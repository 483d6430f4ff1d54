"""The virtual printer's fault flags: ``printer.faults``.

Tests, scenarios and the port (:mod:`.port`, which can arm a fault to hit
after a number of bytes) set them; the status replies reflect them
(:mod:`.realtime`, with Epson's bit layouts in
:mod:`simulator.devices.printer.status`) and the paper path obeys them
(:mod:`.feed`: a printer that cannot print keeps what it was sent in
``unprinted``). ``DLE ENQ 1/2`` clears the recoverable and autocutter errors;
the head overheat recovers by itself (here: when a test clears it).

>>> faults = PrinterFaults()
>>> faults.cover_open = True
>>> faults.cannot_print()
'cover open'
"""

from __future__ import annotations

import attrs

from simulator.devices.printer.status import cannot_print


@attrs.define
class PrinterFaults:
    """What is wrong with the printer right now (all clear at power-on)."""

    paper_out: bool = False
    paper_near_end: bool = False
    cover_open: bool = False
    offline: bool = False
    drawer_open: bool = False  # drawer kick-out connector pin 3 (drawer sensor)
    feed_button: bool = False  # paper being fed by the feed button
    # Errors (DLE EOT 3).
    recoverable_error: bool = False
    cutter_error: bool = False
    unrecoverable_error: bool = False
    head_overheat: bool = False  # automatically recoverable
    # Lines of paper left on the roll (None: endless). Printing the last one
    # sets paper_out, so a roll can run out in the middle of a receipt.
    paper_left: int | None = None

    def cannot_print(self) -> str | None:
        """Why the printer cannot print right now, or None when it can."""
        return cannot_print(self)
