"""The status bytes the virtual printer answers, from its fault flags.

The bit layouts are Epson's, in :mod:`drivers.wire.escpos` (one copy for the
driver that asks and the printer that answers).
"""

from __future__ import annotations

from typing import Protocol

from drivers.wire.escpos import (
    GS_R_DRAWER_PIN3,
    GS_R_PAPER_END,
    GS_R_PAPER_NEAR_END,
    STATUS_AUTO_RECOVERABLE_ERROR,
    STATUS_BASE,
    STATUS_COVER_OPEN,
    STATUS_CUTTER_ERROR,
    STATUS_DRAWER_PIN3,
    STATUS_ERROR,
    STATUS_FEED_BUTTON,
    STATUS_OFFLINE,
    STATUS_PAPER_END,
    STATUS_PAPER_NEAR_END,
    STATUS_RECOVERABLE_ERROR,
    STATUS_STOPPED_PAPER_END,
    STATUS_UNRECOVERABLE_ERROR,
    STATUS_WAITING_RECOVERY,
)

__all__ = [
    "PrinterFaults",
    "cannot_print",
    "dle_eot",
    "gs_r",
    "has_error",
]


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
