"""Contactless: the cardholder taps a card or a phone (docs/contactless.md)."""

from __future__ import annotations

import attrs

from simulator.devices.card_image import CardImage
from simulator.scenario.args import arg
from simulator.scenario.model import Action, StepContext


@attrs.frozen(kw_only=True)
class TapCard(Action):
    keyword = "tap_card"
    shorthand = "card"
    help = (
        "The cardholder holds a card or a phone to the reader's contactless field (a "
        "catalogue name with `contactless: true`, or a file); a card still in the field "
        "from an earlier tap leaves it first. `with_card`: a second card in the field at "
        "once (a collision: the reader activates neither). `leave_at_apdu`: the card leaves "
        "the field at the terminal's n-th command (1 = the first), too soon."
    )
    example = "tap_card: quickpass_debit   # or: {card: quickpass_debit, leave_at_apdu: 3}"

    card: CardImage = arg()
    with_card: CardImage | None = arg(None)
    leave_at_apdu: int | None = arg(None, minimum=1, maximum=1000)

    def run(self, ctx: StepContext) -> None:
        ctx.state.card = self.card  # `enter_pin: card` means this card's PIN
        if self.with_card is not None:
            ctx.hands.tap_cards_together(self.card, self.with_card)
            return
        ctx.hands.tap_card(self.card)
        if self.leave_at_apdu is not None:
            ctx.hands.pull_tapped_card_at(self.leave_at_apdu)

    def describe(self) -> str:
        if self.with_card is not None:
            return f"tap cards {self.card.name} and {self.with_card.name} together"
        return f"tap card {self.card.name}"
