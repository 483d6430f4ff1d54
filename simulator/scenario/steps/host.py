"""The ISO 8583 messages the acquirer host saw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from simulator.events import Envelope
from simulator.gateway.server import HostIsoMessage
from simulator.scenario.args import arg
from simulator.scenario.kinds import TEXT_SCHEMA, Declared, Kind, Seconds
from simulator.scenario.model import Expectation, StepContext, Where
from simulator.scenario.steps.common import now_arg, within_arg
from simulator.terminal.host_link import LinkIsoMessage

_FIELD_NUMBERS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": ["integer", "string"], "pattern": "^[0-9]{1,3}$", "minimum": 1},
    "minItems": 1,
}
_EXPECTED = (
    'expected a list like [{mti: "0200"}, {mti: "0210"}] (or exact: true with messages: [] '
    "for none)"
)


@attrs.frozen
class MessagePattern:
    mti: str
    fields: Mapping[str, str]
    present: tuple[str, ...] = ()  # field numbers it must carry
    absent: tuple[str, ...] = ()  # field numbers it must not carry

    def matches(self, message: Envelope[HostIsoMessage] | Envelope[LinkIsoMessage]) -> bool:
        if message.payload.mti != self.mti:
            return False
        described = message.payload.fields
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


class Messages(Kind):
    """A list of message patterns: ``{mti, with, without, <field number>: text}``."""

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {
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
                "patternProperties": {"^[0-9]+$": dict(TEXT_SCHEMA)},
                "required": ["mti"],
                "additionalProperties": False,
            },
        }

    def parse(
        self, value: Any, arg: Declared, what: str, where: Where
    ) -> tuple[MessagePattern, ...]:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise where.error(f"{what}: {_EXPECTED}")
        patterns = []
        for item in value:
            if not isinstance(item, Mapping) or "mti" not in item:
                raise where.error(f"{what}: each message needs an mti, got {item!r}")
            mti = str(item["mti"]).zfill(4)
            fields = {
                str(k): str(v) for k, v in item.items() if k not in ("mti", "with", "without")
            }
            bad = [k for k in fields if not k.isdigit()]
            if bad:
                raise where.error(f"{what}: {bad[0]!r} is not a field number")
            present = _field_numbers(item.get("with", []), where, f"{what}.with")
            absent = _field_numbers(item.get("without", []), where, f"{what}.without")
            both = sorted(set(absent) & (set(present) | set(fields)))
            if both:
                raise where.error(f"{what}: field {both[0]} is both required and refused in {mti}")
            patterns.append(MessagePattern(mti, fields, present, absent))
        return tuple(patterns)


def _field_numbers(value: Any, where: Where, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    numbers = []
    for item in items:
        text = str(item).strip()
        if isinstance(item, bool) or not text.isdigit() or not 1 <= int(text) <= 128:
            raise where.error(f"{what}: expected field numbers 1-128 like [52, 55], got {item!r}")
        numbers.append(str(int(text)))
    return tuple(numbers)


@attrs.frozen(kw_only=True)
class ExpectGateway(Expectation):
    keyword = "expect_gateway"
    shorthand = "messages"
    help = (
        "The acquirer host saw these ISO 8583 messages, in this order (others may come "
        "between unless exact: true; exact: true with messages: [] means none). Keys other "
        "than mti are field numbers, their values the field's text on the wire (DE4 is 12 "
        'digits of fen: "000000002580" for RMB 25.80); `with: [55]` / `without: [52, 55]` '
        "list fields a message carries / does not carry, whatever their values. Waits for "
        "the payment to end unless `now: true`."
    )
    example = 'expect_gateway: [{mti: "0200", with: [55]}, {mti: "0210", "39": "00"}]'

    messages: tuple[MessagePattern, ...] = arg(kind=Messages())
    exact: bool = arg(False)
    within: Seconds = within_arg()
    now: bool = now_arg()

    def check(self) -> str | None:
        # An empty list only makes sense with exact: true ("the host saw nothing").
        if not self.messages and not self.exact:
            return f"{self.keyword}: {_EXPECTED}"
        return super().check()

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now, within=self.within)
        # Another host (possim run --host): what it saw, as the terminal's side of the
        # wire shows it -- the same messages, their fields redacted the same way.
        view = ctx.view
        seen: Sequence[Envelope[HostIsoMessage] | Envelope[LinkIsoMessage]] = (
            view.iso8583() if view.builtin_card_host else view.link_iso8583()
        )
        focus = seen
        if self.exact:
            mtis = [message.payload.mti for message in seen]
            wanted = [p.mti for p in self.messages]
            if mtis != wanted:
                raise ctx.fail(self, f"expected exactly {wanted}, the gateway saw {mtis}", focus)
            for index, (pattern, message) in enumerate(zip(self.messages, seen, strict=True), 1):
                if not pattern.matches(message):
                    raise ctx.fail(
                        self,
                        f"message {index}: expected {pattern}, the gateway saw {message.summary}",
                        focus,
                    )
            return
        position = 0
        for pattern in self.messages:
            while position < len(seen) and not pattern.matches(seen[position]):
                position += 1
            if position == len(seen):
                raise ctx.fail(self, f"the gateway never saw {pattern} (in order)", focus)
            position += 1

    def describe(self) -> str:
        if not self.messages:
            return "gateway saw nothing"
        return "gateway saw " + ", ".join(str(p) for p in self.messages)
