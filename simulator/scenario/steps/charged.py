"""What the customers were charged, on every channel: the card acquirer's ledger
and the QR gateway's orders (WeChat Pay, Alipay, UnionPay QR), read from the
built-in gateway's own store -- the absence check "nothing was charged"."""

from __future__ import annotations

import attrs

from simulator.scenario.args import NotEmpty, arg
from simulator.scenario.kinds import Fen
from simulator.scenario.model import Expectation, StepContext
from simulator.scenario.steps.common import now_arg
from simulator.view import CHANNELS
from simulator.wire.money import format_yuan

_GIVE_AN_AMOUNT = 'give an amount, e.g. {card: "12.34"} or "0.00" for nothing'


@attrs.frozen(kw_only=True)
class ExpectCharged(Expectation):
    keyword = "expect_charged"
    needs_builtin_gateway = "expect_charged: reads the built-in gateway's ledger"
    shorthand = "total"
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
    constraints = (NotEmpty(_GIVE_AN_AMOUNT),)

    card: Fen | None = arg(None)
    wechat: Fen | None = arg(None)
    alipay: Fen | None = arg(None)
    unionpay_qr: Fen | None = arg(None)
    total: Fen | None = arg(None)
    now: bool = now_arg()

    @property
    def amounts(self) -> dict[str, int]:
        """Fen by channel (or ``total``), in the order the scenario wrote them."""
        return {key: getattr(self, key) for key in self.written if key != "now"}

    def check(self) -> str | None:
        return None if self.amounts else f"{self.keyword}: {_GIVE_AN_AMOUNT}"

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now)
        held = ctx.view.charged_fen()
        held["total"] = sum(held[channel] for channel in CHANNELS)
        wrong = [key for key, fen in self.amounts.items() if held.get(key, 0) != fen]
        if wrong:
            shown = ", ".join(f"{key} RMB {format_yuan(held[key])}" for key in CHANNELS)
            key = wrong[0]
            raise ctx.fail(
                self,
                f"expected {key} RMB {format_yuan(self.amounts[key])} charged, "
                f"it is RMB {format_yuan(held.get(key, 0))} ({shown})",
            )

    def describe(self) -> str:
        parts = ", ".join(f"{key} RMB {format_yuan(fen)}" for key, fen in self.amounts.items())
        return f"charged {parts}" + (" now" if self.now else "")
