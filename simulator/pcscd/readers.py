"""Waiting on pcscd for a reader to show a card, or none, on the real clock.

Both functions ask pcscd itself (``SCardGetStatusChange``), in this process's
pcscd (``PCSCLITE_CSOCK_NAME``), so they wake the moment pcscd's poller
notices an insertion or removal instead of polling. They work against any
pcscd, private or the system's.
"""

from __future__ import annotations

import time
from typing import Any

from drivers.pcsc_card_reader import establish_context, load_scard
from simulator.pcscd.errors import PcscdError


def wait_for_reader_state(reader: str, present: bool, timeout: float) -> bool:
    """Block (real time) until pcscd reports ``reader`` with or without a card.

    True once it does, False after ``timeout`` seconds. Waits inside pcscd
    (``SCardGetStatusChange``), so it wakes the moment pcscd notices.
    """
    return watch_reader(reader, present, timeout) is not None


def watch_reader(reader: str, present: bool, timeout: float, *, newer_than: int = -1) -> int | None:
    """Like :func:`wait_for_reader_state`, returning pcscd's event count for the reader.

    pcscd counts the insertions and removals its poller sees (the high 16 bits
    of the reader state). ``newer_than`` makes the wait last until the count
    has moved past it: an application disconnecting from a card that has just
    gone can mark the reader empty *before* the poller noticed the removal,
    and a card put back before the poller's next look would then never be
    reported at all.
    """
    scard = load_scard()
    context = establish_context(scard)
    try:
        deadline = time.monotonic() + timeout
        states: list[Any] = [(reader, scard.SCARD_STATE_UNAWARE)]
        wait_ms = 0
        while True:
            hr, states = scard.SCardGetStatusChange(context, wait_ms, states)
            if hr & 0xFFFFFFFF and hr & 0xFFFFFFFF != scard.SCARD_E_TIMEOUT & 0xFFFFFFFF:
                raise PcscdError(
                    f"cannot watch {reader!r}: {scard.SCardGetErrorMessage(hr)} (0x{hr:08X})"
                )
            state = int(states[0][1])
            count = (state >> 16) & 0xFFFF
            if bool(state & scard.SCARD_STATE_PRESENT) == present and count > newer_than:
                return count
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            wait_ms = max(1, int(remaining * 1000))
            states = [(name, int(bits) & ~scard.SCARD_STATE_CHANGED) for name, bits, _ in states]
    finally:
        scard.SCardReleaseContext(context)
