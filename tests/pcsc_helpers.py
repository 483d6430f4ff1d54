"""Putting cards into the test run's private pcscd (tests that carry the pcscd markers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from simulator.devices.vpcd_card import ApduCard, VpcdCardLink
from simulator.pcscd import PrivatePcscd, VpcdSlot, watch_reader

SETTLE = 5.0  # real seconds pcscd may take to notice a card (it polls every ~400 ms)


@contextmanager
def inserted(pcscd: PrivatePcscd, slot: VpcdSlot, card: ApduCard) -> Iterator[VpcdCardLink]:
    """The card in the slot, as pcscd sees it; out again (and seen out) afterwards."""
    link = VpcdCardLink(lambda: pcscd.connect_vpcd(slot.port), name=slot.reader)
    link.insert(card)
    try:
        seen = watch_reader(slot.reader, True, SETTLE)
        assert seen is not None, link.last_error
        yield link
    finally:
        if link.card is not None:
            link.remove()
        # Until pcscd's poller itself saw the card go (see watch_reader).
        assert watch_reader(slot.reader, False, SETTLE, newer_than=seen) is not None
