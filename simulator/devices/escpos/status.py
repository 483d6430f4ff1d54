"""Real-time status bytes, with the bit layouts Epson documents for ESC/POS.

``DLE EOT n`` answers one byte whose bits 1 and 4 are always 1 (``0x12``) and
bits 0 and 7 always 0:

=====  ===========================================================================
n      bits
=====  ===========================================================================
1      printer: bit 2 drawer kick-out connector pin 3 high, bit 3 offline,
       bit 5 waiting for online recovery
2      offline cause: bit 2 cover open, bit 3 paper fed by the feed button,
       bit 5 printing stopped by paper end, bit 6 an error occurred
3      error cause: bit 2 recoverable (mechanical) error, bit 3 autocutter error,
       bit 5 unrecoverable error, bit 6 automatically recoverable error (head heat)
4      roll paper sensor: bits 2-3 paper near end (``0x0C``), bits 5-6 paper end
       (``0x60``)
=====  ===========================================================================

``GS r n`` answers one byte with bit 4 fixed at 0: n=1 paper sensor (bits 0-1
near end ``0x03``, bits 2-3 paper end ``0x0C``), n=2 drawer (bit 0 pin 3),
n=4 ink (always 0 here).
"""

from __future__ import annotations

from typing import Protocol

STATUS_BASE = 0x12
STATUS_DRAWER_PIN3 = 0x04  # DLE EOT 1 bit 2
STATUS_OFFLINE = 0x08  # DLE EOT 1 bit 3
STATUS_WAITING_RECOVERY = 0x20  # DLE EOT 1 bit 5
STATUS_COVER_OPEN = 0x04  # DLE EOT 2 bit 2
STATUS_FEED_BUTTON = 0x08  # DLE EOT 2 bit 3
STATUS_STOPPED_PAPER_END = 0x20  # DLE EOT 2 bit 5
STATUS_ERROR = 0x40  # DLE EOT 2 bit 6
STATUS_RECOVERABLE_ERROR = 0x04  # DLE EOT 3 bit 2
STATUS_CUTTER_ERROR = 0x08  # DLE EOT 3 bit 3
STATUS_UNRECOVERABLE_ERROR = 0x20  # DLE EOT 3 bit 5
STATUS_AUTO_RECOVERABLE_ERROR = 0x40  # DLE EOT 3 bit 6
STATUS_PAPER_NEAR_END = 0x0C  # DLE EOT 4 bits 2-3
STATUS_PAPER_END = 0x60  # DLE EOT 4 bits 5-6
GS_R_PAPER_NEAR_END = 0x03  # GS r 1 bits 0-1
GS_R_PAPER_END = 0x0C  # GS r 1 bits 2-3
GS_R_DRAWER_PIN3 = 0x01  # GS r 2 bit 0


class PrinterFaults(Protocol):
    """The fault flags a status byte reflects (VirtualPrinter has them all)."""

    paper_out: bool
    paper_near_end: bool
    cover_open: bool
    offline: bool
    drawer_open: bool
    feed_button: bool
    recoverable_error: bool
    cutter_error: bool
    unrecoverable_error: bool
    head_overheat: bool


def has_error(faults: PrinterFaults) -> bool:
    return (
        faults.recoverable_error
        or faults.cutter_error
        or faults.unrecoverable_error
        or faults.head_overheat
    )


def cannot_print(faults: PrinterFaults) -> str | None:
    """Why the printer cannot print right now, or None when it can."""
    if faults.paper_out:
        return "paper out"
    if faults.cover_open:
        return "cover open"
    if faults.offline:
        return "offline"
    if faults.cutter_error:
        return "autocutter error"
    if faults.recoverable_error:
        return "recoverable error"
    if faults.unrecoverable_error:
        return "unrecoverable error"
    if faults.head_overheat:
        return "print head overheated"
    return None


def dle_eot(n: int, faults: PrinterFaults) -> int:
    """The byte a printer answers to ``DLE EOT n`` (n = 1..4)."""
    value = STATUS_BASE
    if n == 1:
        if faults.drawer_open:
            value |= STATUS_DRAWER_PIN3
        if cannot_print(faults) is not None or faults.feed_button:
            value |= STATUS_OFFLINE
        if faults.recoverable_error or faults.cutter_error:
            value |= STATUS_WAITING_RECOVERY
        return value
    if n == 2:
        if faults.cover_open:
            value |= STATUS_COVER_OPEN
        if faults.feed_button:
            value |= STATUS_FEED_BUTTON
        if faults.paper_out:
            value |= STATUS_STOPPED_PAPER_END
        if has_error(faults):
            value |= STATUS_ERROR
        return value
    if n == 3:
        if faults.recoverable_error:
            value |= STATUS_RECOVERABLE_ERROR
        if faults.cutter_error:
            value |= STATUS_CUTTER_ERROR
        if faults.unrecoverable_error:
            value |= STATUS_UNRECOVERABLE_ERROR
        if faults.head_overheat:
            value |= STATUS_AUTO_RECOVERABLE_ERROR
        return value
    if n == 4:
        if faults.paper_near_end or faults.paper_out:
            value |= STATUS_PAPER_NEAR_END
        if faults.paper_out:
            value |= STATUS_PAPER_END
        return value
    raise ValueError(f"DLE EOT {n}: n must be 1, 2, 3 or 4")


def gs_r(n: int, faults: PrinterFaults) -> int | None:
    """The byte a printer answers to ``GS r n`` (1/49, 2/50, 4/52), or None: no reply."""
    if n in (1, 49):
        value = 0
        if faults.paper_near_end or faults.paper_out:
            value |= GS_R_PAPER_NEAR_END
        if faults.paper_out:
            value |= GS_R_PAPER_END
        return value
    if n in (2, 50):
        return GS_R_DRAWER_PIN3 if faults.drawer_open else 0
    if n in (4, 52):
        return 0
    return None
