"""The cardholder and the card: insert, remove, swipe, pick an application -- and
which EMV application the terminal selected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from simulator.devices.card_image import CardImage
from simulator.events import Envelope
from simulator.scenario.args import arg
from simulator.scenario.kinds import TEXT, Declared, Kind, Seconds, Text
from simulator.scenario.model import Action, Expectation, StepContext, Where
from simulator.scenario.steps.common import within_arg
from simulator.terminal.acquiring_events import ApplicationSelected
from simulator.terminal.display import ScreenId

AID = Text(
    pattern="^([0-9A-Fa-f]{2}){5,16}$",
    expected="an AID (10-32 hex digits)",
    upper=True,
    string_only=True,
)


class ApplicationChoice(Kind):
    """An application's number on the screen (1-9) or its label."""

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {
            "description": "The application's number on the screen (1-9) or its label.",
            "anyOf": [{"type": "integer", "minimum": 1, "maximum": 9}, {"type": "string"}],
        }

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> str:
        choice = TEXT.parse(value, arg, what, where).strip()
        if not choice:
            raise where.error(f"{what}: expected a number or a label")
        if choice.isdigit() and not 1 <= int(choice) <= 9:
            raise where.error(f"{what}: the number must be 1-9")
        return choice


@attrs.frozen(kw_only=True)
class InsertCard(Action):
    keyword = "insert_card"
    shorthand = "card"
    mapping = False
    help = "The cardholder inserts a card: a catalogue name (firmware_fixtures/cards/) or a file."
    example = "insert_card: unionpay_debit"

    card: CardImage = arg()

    def run(self, ctx: StepContext) -> None:
        ctx.state.card = self.card  # `enter_pin: card` means this card's PIN
        ctx.hands.insert_card(self.card)

    def describe(self) -> str:
        return f"insert card {self.card.name}"


@attrs.frozen(kw_only=True)
class RemoveCard(Action):
    keyword = "remove_card"
    help = "The cardholder takes the card out of the reader."
    example = "remove_card:"

    def run(self, ctx: StepContext) -> None:
        ctx.hands.remove_card()

    def describe(self) -> str:
        return "remove card"


@attrs.frozen(kw_only=True)
class SwipeCard(Action):
    keyword = "swipe_card"
    shorthand = "card"
    mapping = False
    help = (
        "The cardholder swipes a card's magnetic stripe (its track 2): a catalogue name "
        "(firmware_fixtures/cards/) or a file. A chip card is refused unless its chip failed "
        "(fallback); see `possim docs emv`."
    )
    example = "swipe_card: unionpay_debit"

    card: CardImage = arg()

    def run(self, ctx: StepContext) -> None:
        ctx.state.card = self.card  # `enter_pin: card` means this card's PIN
        ctx.hands.swipe_card(self.card)

    def describe(self) -> str:
        return f"swipe card {self.card.name}"


@attrs.frozen(kw_only=True)
class SelectApplication(Action):
    keyword = "select_application"
    shorthand = "choice"
    mapping = False
    help = (
        "On the select_application screen the cardholder picks an application: its number "
        "in the list (1 = first) or its label, and the digit key is pressed on the PIN pad."
    )
    example = 'select_application: 2   # or: select_application: "UnionPay Credit"'

    choice: str = arg(kind=ApplicationChoice())

    def run(self, ctx: StepContext) -> None:
        screen = ctx.view.screen()
        if not ctx.view.awaiting_key or screen.id is not ScreenId.SELECT_APPLICATION:
            raise ctx.fail(
                self,
                f"the terminal is not asking for an application (screen: {ctx.view.screen_text()})",
            )
        key = self._key(screen.lines)
        if key is None:
            raise ctx.fail(self, f"no application {self.choice!r} on the screen: {screen.text()}")
        ctx.hands.press(key)

    def _key(self, lines: Sequence[str]) -> str | None:
        for line in lines:
            number, _, label = line.partition(". ")
            if self.choice in (number, label.strip()):
                return number
        return None

    def describe(self) -> str:
        return f"select application {self.choice}"


@attrs.frozen(kw_only=True)
class ExpectApplication(Expectation):
    keyword = "expect_application"
    shorthand = "aid"
    help = (
        "The terminal selected this EMV application on the chip (its AID, "
        "as sent in DE55 tag 84), optionally with this label."
    )
    example = 'expect_application: A000000333010102   # or: {aid: ..., label: "UnionPay Credit"}'

    aid: str = arg(kind=AID)
    label: str | None = arg(None)
    within: Seconds = within_arg()

    def run(self, ctx: StepContext) -> None:
        def matches(selected: Envelope[ApplicationSelected]) -> bool:
            if selected.payload.aid != self.aid:
                return False
            return self.label is None or selected.payload.label == self.label

        found = ctx.expect_next(
            self,
            ctx.view.applications,
            matches,
            after=ctx.state.applications_seen,
            within=self.within,
            what=self.describe(),
            name="application",
        )
        ctx.state.applications_seen = found.seq

    def describe(self) -> str:
        extra = f" ({self.label})" if self.label else ""
        return f"application {self.aid}{extra}"
