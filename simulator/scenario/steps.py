"""Every scenario step: actions on the hardware and expectations on what the
terminal, the devices and the gateway did.

Expectations read the run's event stream from a cursor, like
pytest-embedded's ``expect()``: ``expect_screen: approved`` waits (on the
virtual clock) until an ``approved`` screen appears after the last screen
matched, and on failure shows what did appear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs

from simulator.devices.card_image import CardImage
from simulator.devices.pin_pad import KEYS
from simulator.errors import FixtureError
from simulator.hands import PrinterFaults
from simulator.redact import pin_asterisks
from simulator.scenario.arguments import Count
from simulator.scenario.model import (
    AMOUNT_SCHEMA,
    DEFAULT_WITHIN,
    DURATION_SCHEMA,
    NO_ARGUMENTS_SCHEMA,
    NOW_SCHEMA,
    TEXT_SCHEMA,
    Step,
    StepContext,
    Where,
    did_you_mean,
    expect_mapping,
    expect_no_arguments,
    parse_duration,
    parse_now,
    step,
)
from simulator.terminal.amounts import format_yuan, parse_yuan
from simulator.terminal.cashier_cancel import CancelRefused
from simulator.terminal.display import ScreenId
from simulator.terminal.journal import TxnState
from simulator.terminal.receipts import REPRINT_MARK
from simulator.terminal.terminal import RECEIPT_KINDS
from simulator.view import ApplicationSelected, IsoMessage, Receipt, ScreenShown

# card; scan (the customer's code is scanned); or a dynamic QR of one channel.
_METHODS = ("card", "scan", "wechat", "alipay", "unionpay_qr")
_ISSUANCE = ("central", "member")
_PIN_WORDS = ("card", "wrong")
_SCREEN_SCHEMA: dict[str, Any] = {"enum": [s.value for s in ScreenId]}
_AID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^([0-9A-Fa-f]{2}){5,16}$"}
_TEXTS_SCHEMA: dict[str, Any] = {"anyOf": [TEXT_SCHEMA, {"type": "array", "items": TEXT_SCHEMA}]}
_FIELD_NUMBERS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": ["integer", "string"], "pattern": "^[0-9]{1,3}$", "minimum": 1},
    "minItems": 1,
}
_MESSAGES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "mti": {"type": ["string", "integer"], "pattern": "^[0-9]{1,4}$"},
            "with": {
                **_FIELD_NUMBERS_SCHEMA,
                "description": "field numbers the message carries, whatever their values",
            },
            "without": {
                **_FIELD_NUMBERS_SCHEMA,
                "description": "field numbers the message does not carry (e.g. [52, 55])",
            },
        },
        "patternProperties": {"^[0-9]+$": TEXT_SCHEMA},
        "required": ["mti"],
        "additionalProperties": False,
    },
}


def _text(value: Any, where: Where, what: str) -> str:
    if value is None or isinstance(value, (dict, list)):
        raise where.error(f"{what}: expected text, got {value!r}")
    return str(value)


def _texts(value: Any, where: Where, what: str) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(_text(item, where, what) for item in value)
    return (_text(value, where, what),)


def _within(value: Mapping[str, Any], where: Where) -> float:
    return parse_duration(value.get("within", DEFAULT_WITHIN), where, "within")


# -- actions -------------------------------------------------------------------


@step("sale")
@attrs.define
class Sale(Step):
    is_action = True
    help = (
        "The cashier enters an amount (yuan) and starts a payment by the given method: card, "
        "scan (scan the customer's payment code), or wechat / alipay / unionpay_qr (show a "
        "dynamic QR; unionpay_qr may add issuance: central or member)."
    )
    example = 'sale: "12.34"   # or: sale: {amount: "12.34", method: scan}'
    schema: ClassVar[dict[str, Any]] = {
        "anyOf": [
            AMOUNT_SCHEMA,
            {
                "type": "object",
                "properties": {
                    "amount": AMOUNT_SCHEMA,
                    "method": {"enum": list(_METHODS), "default": "card"},
                    "issuance": {"enum": list(_ISSUANCE)},
                },
                "required": ["amount"],
                "additionalProperties": False,
            },
        ]
    }

    amount_fen: int
    method: str = "card"
    issuance: str = ""
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> Sale:
        if isinstance(value, Mapping):
            value = expect_mapping(value, where, "sale", {"amount", "method", "issuance"})
            amount, method = value.get("amount"), str(value.get("method", "card"))
            issuance = str(value.get("issuance", ""))
        else:
            amount, method, issuance = value, "card", ""
        if method not in _METHODS:
            raise where.error(f"sale.method: expected one of {list(_METHODS)}, got {method!r}")
        if issuance and (method != "unionpay_qr" or issuance not in _ISSUANCE):
            raise where.error("sale.issuance: only for unionpay_qr, central or member")
        try:
            fen = parse_yuan(_text(amount, where, "sale.amount"))
        except ValueError as exc:
            raise where.error(f"sale.amount: {exc}") from None
        if fen <= 0:
            raise where.error("sale.amount: must be above zero")
        return cls(fen, method, issuance)

    def run(self, ctx: StepContext) -> None:
        ctx.state.last_sale_method = self.method
        ctx.state.sale = ctx.hands.start_sale(self.amount_fen, self.method, self.issuance)

    def describe(self) -> str:
        return f"sale RMB {format_yuan(self.amount_fen)} by {self.method}"


_CARD_SCHEMA: dict[str, Any] = {
    "description": "A card: a catalogue name (firmware_fixtures/cards/) or a card file's path.",
    "anyOf": [
        {"enum": CardImage.names()},
        {"type": "string", "pattern": r"[/\\]|\.ya?ml$"},
    ],
}


def _card_image(value: Any, where: Where, keyword: str) -> CardImage:
    """A card named in a step: a catalogue name or a file, checked at load."""
    name = _text(value, where, keyword)
    try:
        return CardImage.load(name)
    except FixtureError as exc:
        hint = did_you_mean(name, CardImage.names())
        problem = f"unknown card {name!r}{hint}" if hint else str(exc)
        raise where.error(f"{keyword}: {problem}") from None


@step("insert_card")
@attrs.define
class InsertCard(Step):
    is_action = True
    help = "The cardholder inserts a card: a catalogue name (firmware_fixtures/cards/) or a file."
    example = "insert_card: unionpay_debit"
    schema: ClassVar[dict[str, Any]] = _CARD_SCHEMA

    card: CardImage
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> InsertCard:
        return cls(_card_image(value, where, "insert_card"))

    def run(self, ctx: StepContext) -> None:
        ctx.state.card = self.card  # `enter_pin: card` means this card's PIN
        ctx.hands.insert_card(self.card)

    def describe(self) -> str:
        return f"insert card {self.card.name}"


@step("remove_card")
@attrs.define
class RemoveCard(Step):
    is_action = True
    help = "The cardholder takes the card out of the reader."
    example = "remove_card:"
    schema: ClassVar[dict[str, Any]] = NO_ARGUMENTS_SCHEMA

    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> RemoveCard:
        expect_no_arguments(value, where, "remove_card")
        return cls()

    def run(self, ctx: StepContext) -> None:
        ctx.hands.remove_card()

    def describe(self) -> str:
        return "remove card"


@step("swipe_card")
@attrs.define
class SwipeCard(Step):
    is_action = True
    help = (
        "The cardholder swipes a card's magnetic stripe (its track 2): a catalogue name "
        "(firmware_fixtures/cards/) or a file. A chip card is refused unless its chip failed "
        "(fallback); see docs/emv.md."
    )
    example = "swipe_card: unionpay_debit"
    schema: ClassVar[dict[str, Any]] = _CARD_SCHEMA

    card: CardImage
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> SwipeCard:
        return cls(_card_image(value, where, "swipe_card"))

    def run(self, ctx: StepContext) -> None:
        ctx.state.card = self.card  # `enter_pin: card` means this card's PIN
        ctx.hands.swipe_card(self.card)

    def describe(self) -> str:
        return f"swipe card {self.card.name}"


@step("select_application")
@attrs.define
class SelectApplication(Step):
    is_action = True
    help = (
        "On the select_application screen the cardholder picks an application: its number "
        "in the list (1 = first) or its label, and the digit key is pressed on the PIN pad."
    )
    example = 'select_application: 2   # or: select_application: "UnionPay Credit"'
    schema: ClassVar[dict[str, Any]] = {
        "description": "The application's number on the screen (1-9) or its label.",
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": 9}, {"type": "string"}],
    }

    choice: str
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> SelectApplication:
        choice = _text(value, where, "select_application").strip()
        if not choice:
            raise where.error("select_application: expected a number or a label")
        if choice.isdigit() and not 1 <= int(choice) <= 9:
            raise where.error("select_application: the number must be 1-9")
        return cls(choice)

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


@step("enter_pin")
@attrs.define
class EnterPin(Step):
    is_action = True
    help = (
        "The cardholder types a PIN and presses OK: `card` (the inserted card's PIN), "
        "`wrong` (a PIN that is not the card's), or digits."
    )
    example = "enter_pin: card"
    schema: ClassVar[dict[str, Any]] = {
        "anyOf": [
            {"enum": list(_PIN_WORDS)},
            {"type": ["string", "integer"], "pattern": "^[0-9]{4,12}$"},
        ]
    }

    pin: str = attrs.field(repr=False)
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> EnterPin:
        pin = _text(value, where, "enter_pin")
        if pin not in _PIN_WORDS and not (pin.isdigit() and 4 <= len(pin) <= 12):
            raise where.error("enter_pin: expected card, wrong, or 4-12 digits")
        return cls(pin)

    def run(self, ctx: StepContext) -> None:
        if not ctx.view.awaiting_pin:
            raise ctx.fail(
                self, f"the terminal is not asking for a PIN (screen: {ctx.view.screen_text()})"
            )
        ctx.hands.type_pin(self._digits(ctx))

    def _digits(self, ctx: StepContext) -> str:
        if self.pin not in _PIN_WORDS:
            return self.pin
        card = ctx.state.card
        if card is None:
            raise ctx.fail(self, f"enter_pin: {self.pin} needs a card inserted first")
        if self.pin == "card":
            return card.pin
        return "".join(str((int(d) + 1) % 10) for d in card.pin)

    def describe(self) -> str:
        shown = self.pin if self.pin in _PIN_WORDS else pin_asterisks(len(self.pin))
        return f"enter PIN ({shown})"


@step("press")
@attrs.define
class Press(Step):
    is_action = True
    help = "Press one PIN pad key: a digit, OK, CLR or CANCEL."
    example = "press: CANCEL"
    schema: ClassVar[dict[str, Any]] = {"enum": sorted(KEYS)}

    key: str
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> Press:
        key = _text(value, where, "press")
        if key not in KEYS:
            raise where.error(f"press: expected a digit, OK, CLR or CANCEL, got {key!r}")
        return cls(key)

    def run(self, ctx: StepContext) -> None:
        if not ctx.hands.press(self.key):
            raise ctx.fail(self, f"the PIN pad is not listening (screen: {ctx.view.screen_text()})")

    def describe(self) -> str:
        return "press " + ("*" if self.key.isdigit() else self.key)


@step("cashier_cancels")
@attrs.define
class CashierCancels(Step):
    is_action = True
    help = (
        "The cashier presses CANCEL on the terminal while the payment waits for the card, "
        "the customer's code, or the customer to pay the QR shown (or confirm a USERPAYING "
        'payment). Before a card or code: the sale ends CANCELED "cancelled by the cashier" '
        "and nothing is sent. A QR order already made is queried once more, then a scanned "
        "code's order is reversed (REVOKED) and a dynamic QR's closed (CLOSED) -- unless the "
        "customer has paid meanwhile: then the sale is approved. Fails "
        "when no payment is in progress or it cannot be cancelled now (reading the card, "
        "authorising with the host; PIN entry: `press: CANCEL`)."
    )
    example = "cashier_cancels:"
    schema: ClassVar[dict[str, Any]] = NO_ARGUMENTS_SCHEMA

    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> CashierCancels:
        expect_no_arguments(value, where, "cashier_cancels")
        return cls()

    def run(self, ctx: StepContext) -> None:
        try:
            taken = ctx.hands.cancel_payment()
        except CancelRefused as exc:
            raise ctx.fail(self, f"the terminal refused CANCEL: {exc}") from None
        if not taken:
            raise ctx.fail(self, f"no payment in progress to cancel ({ctx.view.screen_text()})")

    def describe(self) -> str:
        return "cashier presses CANCEL"


@step("wait")
@attrs.define
class Wait(Step):
    is_action = True
    help = "Let time pass (virtual time: instant in a simulation)."
    example = "wait: 30s"
    schema: ClassVar[dict[str, Any]] = DURATION_SCHEMA

    seconds: float
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> Wait:
        return cls(parse_duration(value, where, "wait"))

    def run(self, ctx: StepContext) -> None:
        ctx.hands.wait(self.seconds)

    def describe(self) -> str:
        return f"wait {self.seconds:g} s"


# -- expectations ----------------------------------------------------------------


@step("expect_screen")
@attrs.define
class ExpectScreen(Step):
    is_action = False
    help = (
        "A screen with this id appears (after the last screen matched), optionally "
        "containing some text. With `now: true`: the screen shown right now is this one "
        "(no waiting). Ids: " + ", ".join(s.value for s in ScreenId) + "."
    )
    example = 'expect_screen: approved   # or: {screen: declined, contains: "51", within: 60s}'
    schema: ClassVar[dict[str, Any]] = {
        "anyOf": [
            _SCREEN_SCHEMA,
            {
                "type": "object",
                "properties": {
                    "screen": _SCREEN_SCHEMA,
                    "contains": TEXT_SCHEMA,
                    "within": DURATION_SCHEMA,
                    "now": NOW_SCHEMA,
                },
                "required": ["screen"],
                "additionalProperties": False,
            },
        ]
    }

    screen: ScreenId
    contains: str | None = None
    within: float = DEFAULT_WITHIN
    now: bool = False
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectScreen:
        if isinstance(value, Mapping):
            value = expect_mapping(
                value, where, "expect_screen", {"screen", "contains", "within", "now"}
            )
            name, contains = value.get("screen"), value.get("contains")
            within = _within(value, where)
            now = parse_now(value, where, "expect_screen")
        else:
            name, contains, within, now = value, None, DEFAULT_WITHIN, False
        try:
            screen = ScreenId(_text(name, where, "expect_screen"))
        except ValueError:
            known = [s.value for s in ScreenId]
            hint = did_you_mean(name, known) or f"; expected one of {', '.join(known)}"
            raise where.error(f"expect_screen: unknown screen {name!r}{hint}") from None
        return cls(screen, None if contains is None else str(contains), within, now)

    def run(self, ctx: StepContext) -> None:
        def matches(shown: ScreenShown) -> bool:
            if shown.screen != self.screen.value:
                return False
            return self.contains is None or self.contains in shown.summary

        what = self.describe()
        if self.now:
            latest = ctx.view.latest_screen()
            shown = ctx.expect_latest(self, latest, matches, what=what, name="screen")
        else:
            shown = ctx.expect_next(
                self,
                ctx.view.screens,
                matches,
                after=ctx.state.screens_seen,
                within=self.within,
                what=what,
                name="screen",
            )
        ctx.state.screens_seen = shown.seq

    def describe(self) -> str:
        extra = f" containing {self.contains!r}" if self.contains else ""
        return f"screen {self.screen.value}{extra}" + (" now" if self.now else "")


@step("expect_application")
@attrs.define
class ExpectApplication(Step):
    is_action = False
    help = (
        "The terminal selected this EMV application on the chip (its AID, "
        "as sent in DE55 tag 84), optionally with this label."
    )
    example = 'expect_application: A000000333010102   # or: {aid: ..., label: "UnionPay Credit"}'
    schema: ClassVar[dict[str, Any]] = {
        "anyOf": [
            _AID_SCHEMA,
            {
                "type": "object",
                "properties": {
                    "aid": _AID_SCHEMA,
                    "label": TEXT_SCHEMA,
                    "within": DURATION_SCHEMA,
                },
                "required": ["aid"],
                "additionalProperties": False,
            },
        ]
    }

    aid: str
    label: str | None = None
    within: float = DEFAULT_WITHIN
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectApplication:
        label = None
        within = DEFAULT_WITHIN
        if isinstance(value, Mapping):
            value = expect_mapping(value, where, "expect_application", {"aid", "label", "within"})
            label = None if value.get("label") is None else str(value["label"])
            within = _within(value, where)
            value = value.get("aid")
        aid = _text(value, where, "expect_application").upper()
        if len(aid) < 10 or len(aid) % 2 or any(c not in "0123456789ABCDEF" for c in aid):
            raise where.error(f"expect_application: {aid!r} is not an AID (10-32 hex digits)")
        return cls(aid, label, within)

    def run(self, ctx: StepContext) -> None:
        def matches(selected: ApplicationSelected) -> bool:
            if selected.aid != self.aid:
                return False
            return self.label is None or selected.label == self.label

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


@step("expect_callback")
@attrs.define
class ExpectCallback(Step):
    is_action = False
    help = "The acquiring app called the cashier app back with OK or CANCELED (and a reason)."
    example = 'expect_callback: {result: CANCELED, reason_contains: "51"}'
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "result": {"enum": ["OK", "CANCELED"]},
            "reason_contains": TEXT_SCHEMA,
            "within": DURATION_SCHEMA,
        },
        "required": ["result"],
        "additionalProperties": False,
    }

    approved: bool
    reason_contains: str | None = None
    within: float = DEFAULT_WITHIN
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectCallback:
        value = expect_mapping(
            value, where, "expect_callback", {"result", "reason_contains", "within"}
        )
        result = str(value.get("result", "")).upper()
        if result not in ("OK", "CANCELED"):
            raise where.error("expect_callback.result: expected OK or CANCELED")
        reason = value.get("reason_contains")
        return cls(result == "OK", None if reason is None else str(reason), _within(value, where))

    def run(self, ctx: StepContext) -> None:
        result = ctx.finished_sale(self, self.within)
        outcome = result.outcome
        if outcome.approved != self.approved:
            got = "OK" if outcome.approved else f"CANCELED ({outcome.reason})"
            raise ctx.fail(self, f"expected {self.describe()}, the callback was {got}")
        if self.reason_contains is not None and self.reason_contains not in outcome.reason:
            raise ctx.fail(
                self,
                f"expected the reason to contain {self.reason_contains!r}, "
                f"it was {outcome.reason!r}",
            )

    def describe(self) -> str:
        return "callback " + ("OK" if self.approved else "CANCELED")


@attrs.frozen
class MessagePattern:
    mti: str
    fields: Mapping[str, str]
    present: tuple[str, ...] = ()  # field numbers it must carry
    absent: tuple[str, ...] = ()  # field numbers it must not carry

    def matches(self, message: IsoMessage) -> bool:
        if message.mti != self.mti:
            return False
        described = message.fields
        return (
            all(described.get(k, {}).get("value") == v for k, v in self.fields.items())
            and all(k in described for k in self.present)
            and not any(k in described for k in self.absent)
        )

    def __str__(self) -> str:
        extra = "".join(f" DE{k}={v}" for k, v in self.fields.items())
        extra += "".join(f" with DE{k}" for k in self.present)
        extra += "".join(f" without DE{k}" for k in self.absent)
        return self.mti + extra


def _field_numbers(value: Any, where: Where, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    numbers = []
    for item in items:
        text = str(item).strip()
        if isinstance(item, bool) or not text.isdigit() or not 1 <= int(text) <= 128:
            raise where.error(f"{what}: expected field numbers 1-128 like [52, 55], got {item!r}")
        numbers.append(str(int(text)))
    return tuple(numbers)


@step("expect_gateway")
@attrs.define
class ExpectGateway(Step):
    is_action = False
    help = (
        "The acquirer host saw these ISO 8583 messages, in this order (others may come "
        "between unless exact: true; exact: true with messages: [] means none). Keys other "
        "than mti are field numbers, their values the field's text on the wire (DE4 is 12 "
        'digits of fen: "000000002580" for RMB 25.80); `with: [55]` / `without: [52, 55]` '
        "list fields a message carries / does not carry, whatever their values. Waits for "
        "the payment to end unless `now: true`."
    )
    example = 'expect_gateway: [{mti: "0200", with: [55]}, {mti: "0210", "39": "00"}]'
    schema: ClassVar[dict[str, Any]] = {
        "anyOf": [
            _MESSAGES_SCHEMA,
            {
                "type": "object",
                "properties": {
                    "messages": _MESSAGES_SCHEMA,
                    "exact": {"type": "boolean", "default": False},
                    "within": DURATION_SCHEMA,
                    "now": NOW_SCHEMA,
                },
                "required": ["messages"],
                "additionalProperties": False,
            },
        ]
    }

    patterns: tuple[MessagePattern, ...]
    exact: bool = False
    within: float = DEFAULT_WITHIN
    now: bool = False
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectGateway:
        exact = False
        within = DEFAULT_WITHIN
        now = False
        if isinstance(value, Mapping):
            value = expect_mapping(
                value, where, "expect_gateway", {"messages", "exact", "within", "now"}
            )
            exact = bool(value.get("exact", False))
            within = _within(value, where)
            now = parse_now(value, where, "expect_gateway")
            value = value.get("messages")
        # An empty list only makes sense with exact: true ("the host saw nothing").
        if not isinstance(value, Sequence) or isinstance(value, str) or not (value or exact):
            raise where.error(
                'expect_gateway: expected a list like [{mti: "0200"}, {mti: "0210"}] '
                "(or exact: true with messages: [] for none)"
            )
        patterns = []
        for item in value:
            if not isinstance(item, Mapping) or "mti" not in item:
                raise where.error(f"expect_gateway: each message needs an mti, got {item!r}")
            mti = str(item["mti"]).zfill(4)
            fields = {
                str(k): str(v) for k, v in item.items() if k not in ("mti", "with", "without")
            }
            bad = [k for k in fields if not k.isdigit()]
            if bad:
                raise where.error(f"expect_gateway: {bad[0]!r} is not a field number")
            present = _field_numbers(item.get("with", []), where, "expect_gateway.with")
            absent = _field_numbers(item.get("without", []), where, "expect_gateway.without")
            both = sorted(set(absent) & (set(present) | set(fields)))
            if both:
                raise where.error(
                    f"expect_gateway: field {both[0]} is both required and refused in {mti}"
                )
            patterns.append(MessagePattern(mti, fields, present, absent))
        return cls(tuple(patterns), exact, within, now)

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now, within=self.within)
        seen = ctx.view.iso8583()
        focus = [message.event for message in seen]
        if self.exact:
            mtis = [message.mti for message in seen]
            wanted = [p.mti for p in self.patterns]
            if mtis != wanted:
                raise ctx.fail(self, f"expected exactly {wanted}, the gateway saw {mtis}", focus)
            for index, (pattern, message) in enumerate(zip(self.patterns, seen, strict=True), 1):
                if not pattern.matches(message):
                    raise ctx.fail(
                        self,
                        f"message {index}: expected {pattern}, the gateway saw {message.summary}",
                        focus,
                    )
            return
        position = 0
        for pattern in self.patterns:
            while position < len(seen) and not pattern.matches(seen[position]):
                position += 1
            if position == len(seen):
                raise ctx.fail(self, f"the gateway never saw {pattern} (in order)", focus)
            position += 1

    def describe(self) -> str:
        if not self.patterns:
            return "gateway saw nothing"
        return "gateway saw " + ", ".join(str(p) for p in self.patterns)


@step("expect_speech")
@attrs.define
class ExpectSpeech(Step):
    is_action = False
    help = (
        "Once the current operation has finished, the speaker has said exactly these "
        "utterances since the scenario began ([] = silence) -- or, in the form "
        "`{new: [...]}`, since the previous expect_speech. A card payment is announced as "
        "收款成功，<amount in Chinese>元 (25.80: 二十五点八元), a QR payment as "
        "微信收款 / 支付宝到账 / 云闪付收款 + amount (firmware_fixtures/announcements/); voids "
        "and refunds are not announced."
    )
    example = 'expect_speech: "收款成功，十二点三四元"   # or: expect_speech: {new: []}'
    schema: ClassVar[dict[str, Any]] = {
        "description": "One utterance, or the list of them ([] = silence).",
        "anyOf": [
            TEXT_SCHEMA,
            {"type": "array", "items": TEXT_SCHEMA},
            {
                "type": "object",
                "properties": {
                    "new": {
                        "description": "what was said since the previous expect_speech",
                        "anyOf": [TEXT_SCHEMA, {"type": "array", "items": TEXT_SCHEMA}],
                    }
                },
                "required": ["new"],
                "additionalProperties": False,
            },
        ],
    }

    utterances: tuple[str, ...]
    new_only: bool = False
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectSpeech:
        new_only = isinstance(value, Mapping)
        if new_only:
            value = expect_mapping(value, where, "expect_speech", {"new"}).get("new")
        if isinstance(value, list) and not value:
            return cls((), new_only)
        return cls(_texts(value, where, "expect_speech"), new_only)

    def run(self, ctx: StepContext) -> None:
        ctx.finished_sale(self, DEFAULT_WITHIN)
        said = tuple(utterance.text for utterance in ctx.view.utterances())
        checked_from = ctx.state.speech_checked if self.new_only else 0
        if said[checked_from:] != self.utterances:
            since = "since the previous expect_speech" if self.new_only else "in all"
            raise ctx.fail(
                self,
                f"expected the speaker to say {list(self.utterances)}, "
                f"it said {list(said[checked_from:])} {since}",
            )
        ctx.state.speech_checked = len(said)

    def describe(self) -> str:
        return f"speech {list(self.utterances)}"


@step("expect_receipt")
@attrs.define
class ExpectReceipt(Step):
    is_action = False
    help = (
        "Once the current operation has finished (at once with `now: true`), the printer has "
        "cut this many receipts since the scenario began (with `new: true`: since the "
        "previous expect_receipt); each of them contains / lacks these texts; `reprints` of "
        "them carry the reprint marker (重打印 REPRINT: printed again after a fault). `kind` "
        "counts and checks only the receipts of one kind (" + ", ".join(RECEIPT_KINDS) + "); "
        "`index` checks one receipt alone: the Nth (1 = first, -1 = last) of those. A sale, "
        "void or refund prints a merchant and a customer copy (a dynamic QR sale first its "
        "qr_slip); a decline or a cancel prints nothing (see What each operation prints)."
    )
    example = 'expect_receipt: {copies: 2, contains: ["621483******3655", "RMB 12.34"]}'
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "copies": {"type": "integer", "minimum": 0},
            "contains": _TEXTS_SCHEMA,
            "not_contains": _TEXTS_SCHEMA,
            "reprints": {"type": "integer", "minimum": 0},
            "new": {
                "type": "boolean",
                "default": False,
                "description": "only the receipts cut since the previous expect_receipt",
            },
            "kind": {
                "enum": list(RECEIPT_KINDS),
                "description": "only the receipts of this kind",
            },
            "index": {
                "type": "integer",
                "not": {"const": 0},
                "description": "one receipt: the Nth of them, 1 = first, -1 = last",
            },
            "now": NOW_SCHEMA,
        },
        "additionalProperties": False,
    }

    copies: int | None
    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    reprints: int | None = None
    new_only: bool = False
    kind: str | None = None
    index: int | None = None
    now: bool = False
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectReceipt:
        value = expect_mapping(
            value,
            where,
            "expect_receipt",
            {"copies", "contains", "not_contains", "reprints", "new", "kind", "index", "now"},
        )
        new_only = value.get("new", False)
        if not isinstance(new_only, bool):
            raise where.error(f"expect_receipt.new: expected true or false, got {new_only!r}")
        counts: dict[str, int | None] = {}
        for key in ("copies", "reprints"):
            count = value.get(key)
            if count is not None and (
                not isinstance(count, int) or isinstance(count, bool) or count < 0
            ):
                raise where.error(f"expect_receipt.{key}: expected a whole number")
            counts[key] = count
        kind = value.get("kind")
        if kind is not None and kind not in RECEIPT_KINDS:
            hint = did_you_mean(kind, RECEIPT_KINDS) or f"; expected one of {list(RECEIPT_KINDS)}"
            raise where.error(f"expect_receipt.kind: unknown kind {kind!r}{hint}")
        index = value.get("index")
        if index is not None and (
            isinstance(index, bool) or not isinstance(index, int) or index == 0
        ):
            raise where.error(
                "expect_receipt.index: expected a receipt's number: 1 = first, -1 = last"
            )
        step = cls(
            counts["copies"],
            _texts(value.get("contains", []), where, "expect_receipt.contains"),
            _texts(value.get("not_contains", []), where, "expect_receipt.not_contains"),
            counts["reprints"],
            new_only,
            None if kind is None else str(kind),
            index,
            parse_now(value, where, "expect_receipt"),
        )
        step._refuse_impossible(where)
        return step

    def _refuse_impossible(self, where: Where) -> None:
        """Combinations that can never pass (or never fail) are refused at load."""
        if self.index is not None and self.copies is not None:
            raise where.error(
                "expect_receipt: index picks one receipt and copies counts them; "
                "use one or the other (copies: 0 for none)"
            )
        if self.copies == 0 and (self.contains or self.not_contains or self.reprints):
            raise where.error(
                "expect_receipt: copies: 0 leaves no receipt to check contains / not_contains "
                "/ reprints on; drop them, or expect copies above 0"
            )
        if self.copies is not None and self.reprints is not None and self.reprints > self.copies:
            raise where.error(
                f"expect_receipt: reprints: {self.reprints} of copies: {self.copies} can never pass"
            )

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now)
        every = ctx.view.receipts()
        checked_from = ctx.state.receipts_checked if self.new_only else 0
        receipts = list(enumerate(every, 1))[checked_from:]
        if self.kind is not None:
            receipts = [(n, receipt) for n, receipt in receipts if receipt.kind == self.kind]
        since = " since the previous expect_receipt" if self.new_only else ""
        what = f"{self.kind} receipt(s)" if self.kind else "receipt(s)"
        if self.index is not None:
            position = self.index - 1 if self.index > 0 else self.index
            if not -len(receipts) <= position < len(receipts):
                raise ctx.fail(
                    self,
                    f"no receipt {self.index}: the printer cut {len(receipts)} {what}{since} "
                    f"({self._cut(every)})",
                )
            receipts = [receipts[position]]
        if self.copies is not None and len(receipts) != self.copies:
            raise ctx.fail(
                self,
                f"expected {self.copies} {what}{since}, the printer cut {len(receipts)} "
                f"({self._cut(every)})",
            )
        for number, receipt in receipts:
            for wanted in self.contains:
                if wanted not in receipt.text:
                    raise ctx.fail(self, f"receipt {number} lacks {wanted!r}:\n{receipt.text}")
            for unwanted in self.not_contains:
                if unwanted in receipt.text:
                    raise ctx.fail(self, f"receipt {number} contains {unwanted!r}:\n{receipt.text}")
        if self.reprints is not None:
            marked = sum(REPRINT_MARK in receipt.text for _, receipt in receipts)
            if marked != self.reprints:
                raise ctx.fail(
                    self,
                    f"expected {self.reprints} reprinted receipt(s) ({REPRINT_MARK!r}), "
                    f"the printer cut {marked}",
                )
        ctx.state.receipts_checked = len(every)

    @staticmethod
    def _cut(every: list[Receipt]) -> str:
        """What the printer cut, by kind, for a failure message."""
        if not every:
            return "none in all"
        return "in all: " + ", ".join(str(receipt.kind or "unknown") for receipt in every)

    def describe(self) -> str:
        which = f"{self.kind} " if self.kind else ""
        if self.index is not None:
            text = f"receipt {self.index} of the {which}receipts"
        elif self.copies is not None:
            text = f"{self.copies} {which}receipt(s)"
        else:
            text = f"{which}receipts"
        if self.contains:
            text += f" containing {list(self.contains)}"
        return text + (" now" if self.now else "")


_OPERATIONS = ("sale", "void", "refund")


def _operation_and_batch(
    value: Mapping[str, Any], where: Where, what: str, key: str = "operation"
) -> tuple[str | None, str | None]:
    """The optional card operation (sale/void/refund) and 6-digit batch of an expectation."""
    operation = value.get(key)
    if operation is not None and operation not in _OPERATIONS:
        raise where.error(f"{what}.{key}: expected one of {', '.join(_OPERATIONS)}")
    batch = value.get("batch")
    if batch is not None and not (isinstance(batch, str) and len(batch) == 6 and batch.isdigit()):
        raise where.error(f'{what}.batch: expected 6 digits in quotes, like "000001"')
    return operation, batch


def _count(value: Mapping[str, Any], where: Where, what: str) -> int | None:
    count = value.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise where.error(f"{what}.count: expected a whole number of 0 or more")
    return count


def _refuse_empty_with_last(
    value: Mapping[str, Any], where: Where, what: str, about_last: tuple[str, ...]
) -> None:
    """``count: 0`` says there is nothing, so nothing can be the last row's."""
    if "count" not in value and not any(key in value for key in about_last):
        raise where.error(
            f"{what}: expected {about_last[0]} (the last card transaction's) and/or count "
            f"(how many in all; {{count: 0}}: none)"
        )
    given = [key for key in about_last if key in value]
    if value.get("count") == 0 and given:
        raise where.error(
            f"{what}: count: 0 says there is no card transaction, so none can have "
            f"{given[0]}: {value[given[0]]}; write {{count: 0}} alone to check that none was "
            'made (expect_charged: "0.00" checks that nothing was charged on any channel)'
        )


def _rows(rows: Sequence[Any], describe: Any) -> str:
    return "; ".join(describe(row) for row in rows) if rows else "none"


@step("expect_journal")
@attrs.define
class ExpectJournal(Step):
    is_action = False
    help = (
        "Once the current operation has ended (at once with `now: true`, e.g. "
        "`{state: reversal_pending, now: true}` while the reversal waits for its answer): "
        "the terminal journal's latest card transaction is in this state (and has this "
        "response code; is a sale, void or refund: `operation`; is in batch `batch`), and "
        "the journal holds `count` card transactions. `{count: 0}` alone: none at all."
    )
    example = "expect_journal: {state: reversed}   # or: {state: approved, operation: void}"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "state": {"enum": [s.value for s in TxnState]},
            "response_code": TEXT_SCHEMA,
            "count": {
                "type": "integer",
                "minimum": 0,
                "description": "how many card transactions the journal holds in all",
            },
            "operation": {"enum": list(_OPERATIONS)},
            "batch": {"type": "string", "pattern": "^[0-9]{6}$"},
            "now": NOW_SCHEMA,
        },
        "anyOf": [{"required": ["state"]}, {"required": ["count"]}],
        "additionalProperties": False,
    }

    state: TxnState | None
    response_code: str | None = None
    count: int | None = None
    operation: str | None = None
    batch: str | None = None
    now: bool = False
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectJournal:
        value = expect_mapping(
            value,
            where,
            "expect_journal",
            {"state", "response_code", "count", "operation", "batch", "now"},
        )
        _refuse_empty_with_last(
            value, where, "expect_journal", ("state", "response_code", "operation", "batch")
        )
        state = None
        if "state" in value:
            try:
                state = TxnState(str(value.get("state")))
            except ValueError:
                known = ", ".join(s.value for s in TxnState)
                raise where.error(f"expect_journal.state: expected one of {known}") from None
        code = value.get("response_code")
        operation, batch = _operation_and_batch(value, where, "expect_journal")
        return cls(
            state,
            None if code is None else str(code),
            _count(value, where, "expect_journal"),
            operation,
            batch,
            parse_now(value, where, "expect_journal"),
        )

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now)
        entries = ctx.view.journal()
        if self.count is not None and len(entries) != self.count:
            found = _rows(entries, lambda e: f"{e.operation} {e.state.value}")
            raise ctx.fail(
                self, f"expected {self.count} journal entries, found {len(entries)}: {found}"
            )
        about_last = (self.state, self.response_code, self.operation, self.batch)
        if all(item is None for item in about_last):
            return
        if not entries:
            raise ctx.fail(self, "the journal is empty")
        last = entries[-1]
        if self.state is not None and last.state is not self.state:
            raise ctx.fail(
                self,
                f"expected the last transaction {self.state.value}, "
                f"it is {last.state.value} ({last.reason})",
            )
        if self.response_code is not None and last.response_code != self.response_code:
            raise ctx.fail(
                self,
                f"expected response code {self.response_code}, journal has {last.response_code!r}",
            )
        if self.operation is not None and last.operation != self.operation:
            raise ctx.fail(self, f"expected a {self.operation}, the last row is a {last.operation}")
        if self.batch is not None and last.batch_no != self.batch:
            raise ctx.fail(self, f"expected batch {self.batch}, the last row is in {last.batch_no}")

    def describe(self) -> str:
        if self.state is None:
            return f"journal: {self.count} card transaction(s)" + (" now" if self.now else "")
        what = self.operation or "transaction"
        return f"journal: last {what} {self.state.value}" + (" now" if self.now else "")


_LEDGER_STATUSES = ("approved", "declined", "unanswered", "reversed")


@step("expect_ledger")
@attrs.define
class ExpectLedger(Step):
    is_action = False
    help = (
        "Once the current operation has ended (at once with `now: true`): the acquirer's "
        "ledger's latest card transaction has this status (approved, declined, unanswered "
        "or reversed); `kind`: sale, void or refund (docs/settlement.md); `batch`: its batch "
        "number; `count`: how many the ledger holds. `{count: 0}` alone: the host booked "
        "nothing (expect_charged checks the money on every channel)."
    )
    example = "expect_ledger: {status: approved, count: 1}   # or: {status: reversed, kind: void}"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "status": {"enum": list(_LEDGER_STATUSES)},
            "count": {
                "type": "integer",
                "minimum": 0,
                "description": "how many card transactions the ledger holds in all",
            },
            "kind": {"enum": list(_OPERATIONS)},
            "batch": {"type": "string", "pattern": "^[0-9]{6}$"},
            "now": NOW_SCHEMA,
        },
        "anyOf": [{"required": ["status"]}, {"required": ["count"]}],
        "additionalProperties": False,
    }

    status: str | None
    count: int | None = None
    kind: str | None = None
    batch: str | None = None
    now: bool = False
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectLedger:
        value = expect_mapping(
            value, where, "expect_ledger", {"status", "count", "kind", "batch", "now"}
        )
        _refuse_empty_with_last(value, where, "expect_ledger", ("status", "kind", "batch"))
        status = None
        if "status" in value:
            status = str(value.get("status", ""))
            if status not in _LEDGER_STATUSES:
                raise where.error(
                    "expect_ledger.status: expected approved, declined, unanswered or reversed"
                )
        kind, batch = _operation_and_batch(value, where, "expect_ledger", "kind")
        return cls(
            status,
            _count(value, where, "expect_ledger"),
            kind,
            batch,
            parse_now(value, where, "expect_ledger"),
        )

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now)
        entries = ctx.view.ledger()
        if self.count is not None and len(entries) != self.count:
            found = _rows(entries, lambda e: f"{e.kind} {e.status}")
            raise ctx.fail(
                self, f"expected {self.count} ledger entries, found {len(entries)}: {found}"
            )
        if self.status is None and self.kind is None and self.batch is None:
            return
        if not entries:
            raise ctx.fail(self, "the ledger is empty")
        last = entries[-1]
        if self.status is not None and str(last.status) != self.status:
            raise ctx.fail(
                self, f"expected the last ledger entry {self.status}, it is {last.status}"
            )
        if self.kind is not None and last.kind != self.kind:
            raise ctx.fail(self, f"expected a {self.kind}, the last entry is a {last.kind}")
        if self.batch is not None and last.batch_no != self.batch:
            raise ctx.fail(self, f"expected batch {self.batch}, got {last.batch_no!r}")

    def describe(self) -> str:
        if self.status is None:
            return f"ledger: {self.count} card transaction(s)" + (" now" if self.now else "")
        return f"ledger: last transaction {self.status}" + (" now" if self.now else "")


# -- the printer (faults and their cure; see docs/printer.md) ---------------------

_PRINTER_FLAGS = ("paper_end", "paper_near_end", "cover_open", "offline")
_PRINTER_BYTES = Count(0, 1_000_000, "Bytes the printer takes from now before the fault.")
_PRINTER_COUNTS = {
    "paper_end_after": _PRINTER_BYTES,
    "cover_open_after": _PRINTER_BYTES,
    "offline_after": _PRINTER_BYTES,
    "paper_lines_left": Count(0, 100_000, "Lines left on the paper roll."),
}


@step("printer_fault")
@attrs.define
class PrinterFault(Step):
    is_action = True
    help = (
        "Inject printer faults: `paper_end`, `paper_near_end`, `cover_open`, `offline` "
        "(true sets, false clears), or let a number of bytes through first: "
        "`paper_end_after`, `cover_open_after`, `offline_after` (bytes from now, so the "
        "fault hits in the middle of a receipt), `paper_lines_left` (lines left on the roll)."
    )
    example = "printer_fault: {paper_end_after: 200}   # or: {paper_end: true}, {cover_open: true}"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            **{flag: {"type": "boolean"} for flag in _PRINTER_FLAGS},
            **{key: count.schema() for key, count in _PRINTER_COUNTS.items()},
        },
        "minProperties": 1,
        "additionalProperties": False,
    }

    faults: Mapping[str, bool | int]
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> PrinterFault:
        value = expect_mapping(
            value, where, "printer_fault", set(_PRINTER_FLAGS) | set(_PRINTER_COUNTS)
        )
        if not value:
            raise where.error("printer_fault: name at least one fault, e.g. {paper_end: true}")
        faults: dict[str, bool | int] = {}
        for key, item in value.items():
            if key in _PRINTER_FLAGS:
                if not isinstance(item, bool):
                    raise where.error(f"printer_fault.{key}: expected true or false")
            else:
                item = _PRINTER_COUNTS[key].parse(item, where, f"printer_fault.{key}")
            faults[str(key)] = item
        return cls(faults)

    def run(self, ctx: StepContext) -> None:
        ctx.hands.printer_faults(PrinterFaults(**self.faults))  # type: ignore[arg-type]

    def describe(self) -> str:
        return "printer " + ", ".join(f"{k}={v}" for k, v in self.faults.items())


@step("refill_paper")
@attrs.define
class RefillPaper(Step):
    is_action = True
    help = (
        "The cashier loads a new paper roll: paper end (and near end) clear, and a receipt "
        "left half-printed is torn off (it does not count as a receipt)."
    )
    example = "refill_paper:"
    schema: ClassVar[dict[str, Any]] = NO_ARGUMENTS_SCHEMA

    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> RefillPaper:
        expect_no_arguments(value, where, "refill_paper")
        return cls()

    def run(self, ctx: StepContext) -> None:
        ctx.hands.refill_paper()

    def describe(self) -> str:
        return "refill paper"


@step("close_cover")
@attrs.define
class CloseCover(Step):
    is_action = True
    help = "The cashier closes the printer cover."
    example = "close_cover:"
    schema: ClassVar[dict[str, Any]] = NO_ARGUMENTS_SCHEMA

    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> CloseCover:
        expect_no_arguments(value, where, "close_cover")
        return cls()

    def run(self, ctx: StepContext) -> None:
        ctx.hands.close_cover()

    def describe(self) -> str:
        return "close printer cover"


# The other step families register themselves on import: QR payments, faults,
# settlement, the back office, the money charged.
from simulator.scenario import backoffice_steps as _backoffice_steps  # noqa: E402, F401
from simulator.scenario import charge_steps as _charge_steps  # noqa: E402, F401
from simulator.scenario import fault_steps as _fault_steps  # noqa: E402, F401
from simulator.scenario import qr_steps as _qr_steps  # noqa: E402, F401
from simulator.scenario import settlement_steps as _settlement_steps  # noqa: E402, F401
