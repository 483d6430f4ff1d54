"""What the customers were charged, on every channel: the card acquirer's ledger
and the QR gateway's orders (WeChat Pay, Alipay, UnionPay QR), read from the
built-in gateway's own store -- the absence check "nothing was charged"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from simulator.scenario.model import (
    AMOUNT_SCHEMA,
    NOW_SCHEMA,
    Step,
    StepContext,
    Where,
    expect_mapping,
    parse_now,
    step,
)
from simulator.terminal.amounts import format_yuan, parse_yuan
from simulator.view import CHANNELS


@step("expect_charged")
@attrs.define
class ExpectCharged(Step):
    is_action = False
    help = (
        "Once the current operation has ended (at once with `now: true`), this much money "
        "is held from the customers: an amount is the total over every channel "
        '(`expect_charged: "0.00"`: nothing was charged anywhere), a mapping gives it per '
        "channel (card, wechat, alipay, unionpay_qr; channels left out are not checked) "
        "and/or in `total`. "
        "Card: approved sales not reversed, less approved voids and refunds (the acquirer's "
        "ledger); QR: orders paid, less what was refunded (the QR gateway's orders)."
    )
    example = 'expect_charged: "0.00"   # or: {card: "12.34", wechat: "0.00"}'
    schema: ClassVar[dict[str, Any]] = {
        "anyOf": [
            AMOUNT_SCHEMA,
            {
                "type": "object",
                "properties": {
                    **{channel: AMOUNT_SCHEMA for channel in CHANNELS},
                    "total": AMOUNT_SCHEMA,
                    "now": NOW_SCHEMA,
                },
                "minProperties": 1,
                "additionalProperties": False,
            },
        ]
    }

    # channel (or "total") -> fen
    amounts: Mapping[str, int]
    now: bool = False
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectCharged:
        now = False
        if isinstance(value, Mapping):
            value = expect_mapping(value, where, "expect_charged", {*CHANNELS, "total", "now"})
            now = parse_now(value, where, "expect_charged")
            raw = {str(key): item for key, item in value.items() if key != "now"}
            if not raw:
                raise where.error(
                    'expect_charged: give an amount, e.g. {card: "12.34"} or "0.00" for nothing'
                )
        else:
            raw = {"total": value}
        amounts = {}
        for key, item in raw.items():
            if item is None or isinstance(item, (bool, list, Mapping)):
                raise where.error(f'expect_charged.{key}: expected an amount like "12.34"')
            try:
                amounts[key] = parse_yuan(str(item))
            except ValueError as exc:
                raise where.error(f"expect_charged.{key}: {exc}") from None
        return cls(amounts, now)

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now)
        held = ctx.view.charged_fen()
        held["total"] = sum(held[channel] for channel in CHANNELS)
        wrong = [key for key, fen in self.amounts.items() if held.get(key, 0) != fen]
        if wrong:
            shown = ", ".join(f"{key} RMB {format_yuan(held[key])}" for key in (*CHANNELS,))
            key = wrong[0]
            raise ctx.fail(
                self,
                f"expected {key} RMB {format_yuan(self.amounts[key])} charged, "
                f"it is RMB {format_yuan(held.get(key, 0))} ({shown})",
            )

    def describe(self) -> str:
        parts = ", ".join(f"{key} RMB {format_yuan(fen)}" for key, fen in self.amounts.items())
        return f"charged {parts}" + (" now" if self.now else "")
