"""The cardholder's fingers on the PIN pad: a PIN, one key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from drivers.wire.masking import pin_asterisks
from simulator.devices.pin_pad import KEYS
from simulator.scenario.args import arg
from simulator.scenario.kinds import TEXT, Declared, Kind
from simulator.scenario.model import Action, StepContext, Where

# `enter_pin: card` types the card's own PIN; `wrong` one that is not.
PIN_WORDS = ("card", "wrong")


class Pin(Kind):
    """``card``, ``wrong`` or 4-12 digits."""

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {
            "anyOf": [
                {"enum": list(PIN_WORDS)},
                {"type": ["string", "integer"], "pattern": "^[0-9]{4,12}$"},
            ]
        }

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> str:
        pin = TEXT.parse(value, arg, what, where)
        if pin not in PIN_WORDS and not (pin.isdigit() and 4 <= len(pin) <= 12):
            raise where.error(f"{what}: expected card, wrong, or 4-12 digits")
        return pin


@attrs.frozen(kw_only=True)
class EnterPin(Action):
    keyword = "enter_pin"
    shorthand = "pin"
    mapping = False
    help = (
        "The cardholder types a PIN and presses OK: `card` (the inserted card's PIN), "
        "`wrong` (a PIN that is not the card's), or digits."
    )
    example = "enter_pin: card"

    pin: str = arg(kind=Pin(), repr=False)

    def run(self, ctx: StepContext) -> None:
        if not ctx.view.awaiting_pin:
            raise ctx.fail(
                self, f"the terminal is not asking for a PIN (screen: {ctx.view.screen_text()})"
            )
        ctx.hands.type_pin(self._digits(ctx))

    def _digits(self, ctx: StepContext) -> str:
        if self.pin not in PIN_WORDS:
            return self.pin
        card = ctx.state.card
        if card is None:
            raise ctx.fail(self, f"enter_pin: {self.pin} needs a card inserted first")
        if self.pin == "card":
            return card.pin
        return "".join(str((int(d) + 1) % 10) for d in card.pin)

    def describe(self) -> str:
        shown = self.pin if self.pin in PIN_WORDS else pin_asterisks(len(self.pin))
        return f"enter PIN ({shown})"


@attrs.frozen(kw_only=True)
class Press(Action):
    keyword = "press"
    shorthand = "key"
    mapping = False
    help = "Press one PIN pad key: a digit, OK, CLR or CANCEL."
    example = "press: CANCEL"

    key: str = arg(choices=tuple(sorted(KEYS)))

    def run(self, ctx: StepContext) -> None:
        if not ctx.hands.press(self.key):
            raise ctx.fail(self, f"the PIN pad is not listening (screen: {ctx.view.screen_text()})")

    def describe(self) -> str:
        return "press " + ("*" if self.key.isdigit() else self.key)
