"""Refunds and voids of the last sale (card or QR), and the QR gateway's order as
its own store has it, checked against the terminal's journal."""

from __future__ import annotations

from typing import Any

import attrs

from simulator.scenario.args import arg
from simulator.scenario.kinds import Fen, Text
from simulator.scenario.model import Action, Expectation, StepContext
from simulator.scenario.steps.common import now_arg
from simulator.scenario.steps.qr import last_qr_sale
from simulator.scenario.steps.settlement import card_sale_for
from simulator.terminal.journal import QrState
from simulator.terminal.qr_payments import QR_CHANNELS
from simulator.wire.money import format_yuan

# Gateway trade state -> the journal states that agree with it (sale rows).
_AGREEING = {
    "SUCCESS": {QrState.SUCCESS},
    "REFUND": {QrState.SUCCESS},
    "REVOKED": {QrState.REVOKED},
    "CLOSED": {QrState.CLOSED, QrState.REVOKED},
    "PAYERROR": {QrState.FAILED, QrState.CLOSED},
    "NOTPAY": {QrState.NOTPAY},
    "USERPAYING": {QrState.USERPAYING},
}
# What expect_qr_order may expect: a gateway trade state, or NONE (no order at all).
ORDER_STATES = (*_AGREEING, "NONE")
# An operation that waits for the one before it gives it this long to end.
_PREVIOUS_WITHIN = 600.0


def _order_arg() -> Any:
    help_text = "`last` (the scenario's last `sale:`, card or QR) or an order number."
    return arg("last", kind=Text(string_only=True), help=help_text)


@attrs.frozen(kw_only=True)
class Refund(Action):
    keyword = "refund"
    help = (
        "The cashier refunds (part of) a payment: `order: last` (the last sale, card or QR) "
        "or an order number. A card refund needs the card presented next (insert_card or "
        "swipe_card; `possim docs settlement`)."
    )
    example = 'refund: {order: last, amount: "5.00"}'

    order: str = _order_arg()
    amount: Fen = arg(minimum=1)

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, _PREVIOUS_WITHIN)
        card_sale = card_sale_for(ctx, self.order)
        if card_sale is not None:
            ctx.state.sale = ctx.hands.start_refund(card_sale.order_no, self.amount, "card")
            return
        sale = last_qr_sale(ctx, self)
        order = sale.out_trade_no if self.order == "last" else self.order
        method = sale.channel or sale.method
        ctx.state.sale = ctx.hands.start_refund(order, self.amount, method)

    def describe(self) -> str:
        return f"refund RMB {format_yuan(self.amount)} of order {self.order}"


@attrs.frozen(kw_only=True)
class Void(Action):
    keyword = "void"
    help = (
        "The cashier voids a payment the same day (`order: last`, the last sale, card or QR; "
        "or an order number): in full. A card sale must be in the open batch."
    )
    example = "void: {order: last}"

    order: str = _order_arg()

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, _PREVIOUS_WITHIN)
        card_sale = card_sale_for(ctx, self.order)
        if card_sale is not None:
            ctx.state.sale = ctx.hands.start_void(card_sale.order_no, card_sale.amount_fen, "card")
            return
        sales = [e for e in ctx.view.qr_journal() if e.operation == "sale"]
        matching = [e for e in sales if self.order in ("last", e.out_trade_no)]
        if not matching:
            raise ctx.fail(self, f"no QR sale {self.order!r} in the terminal journal")
        sale = matching[-1]
        ctx.state.sale = ctx.hands.start_void(
            sale.out_trade_no, sale.amount_fen, sale.channel or sale.method
        )

    def describe(self) -> str:
        return f"void order {self.order}"


@attrs.frozen(kw_only=True)
class ExpectQrOrder(Expectation):
    keyword = "expect_qr_order"
    help = (
        "The gateway's order for the last QR sale is in this trade state (SUCCESS, REVOKED, "
        "CLOSED, REFUND ...; NONE: no order, nothing charged), on this channel, with this "
        "much refunded, and the terminal journal agrees. Read from the gateway's own store "
        "(no request in the terminal's traffic), once the current operation has ended -- or "
        "at once with `now: true`: `{state: USERPAYING, now: true}` while the customer has "
        "not yet confirmed."
    )
    example = "expect_qr_order: {state: SUCCESS, channel: wechat}"

    state: str = arg(choices=ORDER_STATES)
    channel: str | None = arg(None, choices=QR_CHANNELS)
    refunded: Fen | None = arg(None)
    now: bool = now_arg()

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now, within=_PREVIOUS_WITHIN)
        sale = last_qr_sale(ctx, self)
        order = ctx.view.qr_order(sale.out_trade_no)
        state = str(order.get("trade_state", ""))
        nothing_charged = state in ("NONE", "PAYERROR", "CLOSED")
        if state != self.state and not (self.state == "NONE" and nothing_charged):
            raise ctx.fail(self, f"expected the gateway order {self.state}, it is {state}")
        if self.channel is not None and order.get("channel", sale.channel) != self.channel:
            raise ctx.fail(self, f"expected channel {self.channel}, got {order.get('channel')}")
        if self.refunded is not None and order.get("refunded_fen") != self.refunded:
            raise ctx.fail(
                self, f"expected {self.refunded} fen refunded, got {order.get('refunded_fen')}"
            )
        agreeing = _AGREEING.get(state, {QrState.FAILED})
        if sale.state not in agreeing:
            raise ctx.fail(
                self,
                f"the gateway says {state} but the terminal journal says {sale.state.value} "
                f"({sale.reason})",
            )
        if state == "REFUND" and self.refunded is not None:
            refunds = [
                e
                for e in ctx.view.qr_journal()
                if e.operation == "refund"
                and e.out_trade_no == sale.out_trade_no
                and e.state is QrState.REFUND
            ]
            if sum(e.amount_fen for e in refunds) != self.refunded:
                raise ctx.fail(self, "the journal's refunds do not add up to the gateway's")

    def describe(self) -> str:
        text = f"QR order {self.state}" + (f" on {self.channel}" if self.channel else "")
        return text + (" now" if self.now else "")
