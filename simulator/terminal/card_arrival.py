"""Waiting for a card: inserted, swiped or tapped, until a deadline or the cashier cancels.

A real PC/SC reader never notifies the clock, so the wait polls in short waits
rather than one long one; the clock may call the arrival check from any thread,
so it has no side effects.
"""

from __future__ import annotations

import enum

import attrs

from drivers.card_reader import CardReader
from drivers.clock import POLL_INTERVAL, Clock
from drivers.magstripe_reader import MagstripeReader
from simulator.terminal.cashier_cancel import CashierCancel
from simulator.terminal.contactless_sale import ContactlessSale


@attrs.frozen
class Presented:
    chip: bool
    track2: str | None = attrs.field(default=None, repr=False)
    tapped: bool = False  # a card in the contactless field (simulator.terminal.contactless_sale)


class NoCard(enum.Enum):
    """Why no card came: the wait ran out, or the cashier cancelled it."""

    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


@attrs.frozen
class CardArrival:
    """The terminal's card interfaces, watched together for the first card to come."""

    reader: CardReader
    swiper: MagstripeReader | None
    cashier: CashierCancel
    clock: Clock

    def wait(
        self, deadline: float, *, chip: bool, contactless: ContactlessSale | None
    ) -> Presented | NoCard:
        """A card inserted (if ``chip``), tapped (if ``contactless``) or swiped before
        ``deadline``, unless the cashier cancels first (a card that comes with the
        CANCEL is left unread)."""
        with self.cashier.waiting("the card") as window:
            presented = self._arrival(deadline, chip=chip, contactless=contactless)
        if window.cancelled:
            return NoCard.CANCELLED
        return presented or NoCard.TIMEOUT

    def _arrival(
        self, deadline: float, *, chip: bool, contactless: ContactlessSale | None
    ) -> Presented | None:
        reader, swiper, cashier = self.reader, self.swiper, self.cashier

        def arrived() -> bool:
            if cashier.requested or (chip and reader.card_present()):
                return True
            if contactless is not None and contactless.tapped():
                return True
            return swiper is not None and swiper.swipe_waiting()

        while not cashier.requested:
            if contactless is not None and contactless.tapped():
                return Presented(chip=True, tapped=True)
            if chip and reader.card_present():
                # Through wait_for_card too, so the trace shows the card presented;
                # connect() decides whether the card is really there.
                reader.wait_for_card(0)
                return Presented(chip=True)
            if swiper is not None:
                track2 = swiper.take_swipe()
                if track2 is not None:
                    return Presented(chip=False, track2=track2)
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                return None
            self.clock.wait_until(arrived, min(remaining, POLL_INTERVAL))
        return None
