"""Scenario steps for QR payments: the scanner, the simulated customers' phones
(the gateway's ``/v1/sim/*`` calls, docs/qr_api.md), notifies, refunds, and an
expectation that the gateway's order and the terminal's journal agree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

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
    expect_mapping,
    expect_no_arguments,
    parse_duration,
    parse_now,
    step,
)
from simulator.scenario.settlement_steps import card_sale_for
from simulator.terminal.amounts import format_yuan, parse_yuan
from simulator.terminal.display import ScreenId
from simulator.terminal.journal import QrEntry, QrState
from simulator.terminal.qr_link import mask_code

_WALLETS = ("wechat", "alipay", "unionpay_qr")
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
_CODE_SCHEMA: dict[str, Any] = {
    "description": "The customer's payment code as text (quote it).",
    **TEXT_SCHEMA,
}
_ORDER_SCHEMA: dict[str, Any] = {
    "description": "`last` (the scenario's last `sale:`, card or QR) or an order number.",
    "type": "string",
    "default": "last",
}


def _last_sale(ctx: StepContext, step: Step) -> QrEntry:
    sale = ctx.view.last_qr_sale()
    if sale is None:
        raise ctx.fail(step, "no QR sale in the terminal journal yet")
    return sale


_SCAN_TIMES = Count(1, 100, "How many times the code arrives (2: a doubled scan).", default=1)


@step("scan_code")
@attrs.define
class ScanCode(Step):
    is_action = True
    help = (
        "The cashier scans the customer's payment code with the scanner (times: 2 = the "
        "same code delivered twice, a doubled scan)."
    )
    example = 'scan_code: "134567890123456789"   # or: {code: "1345...", times: 2}'
    schema: ClassVar[dict[str, Any]] = {
        "anyOf": [
            _CODE_SCHEMA,
            {
                "type": "object",
                "properties": {
                    "code": _CODE_SCHEMA,
                    "times": _SCAN_TIMES.schema(),
                },
                "required": ["code"],
                "additionalProperties": False,
            },
        ]
    }

    code: str = attrs.field(repr=False)
    times: int = 1
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ScanCode:
        times = 1
        if isinstance(value, Mapping):
            value = expect_mapping(value, where, "scan_code", {"code", "times"})
            times = _SCAN_TIMES.parse(value.get("times", 1), where, "scan_code.times")
            value = value.get("code")
        if value is None or isinstance(value, (list, Mapping)) or not str(value).strip():
            raise where.error("scan_code: expected the code (quote it: it is text)")
        return cls(str(value).strip(), times)

    def run(self, ctx: StepContext) -> None:
        ctx.hands.scan(self.code, self.times)

    def describe(self) -> str:
        shown = mask_code(self.code) if self.code.isdigit() else self.code
        return f"scan code {shown}" + (f" x{self.times}" if self.times > 1 else "")


@step("customer_confirms")
@attrs.define
class CustomerConfirms(Step):
    is_action = True
    help = "The customer confirms the waiting (USERPAYING) payment on the phone."
    example = "customer_confirms:"
    schema: ClassVar[dict[str, Any]] = NO_ARGUMENTS_SCHEMA

    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> CustomerConfirms:
        expect_no_arguments(value, where, "customer_confirms")
        return cls()

    def run(self, ctx: StepContext) -> None:
        ctx.hands.customer_confirms(_last_sale(ctx, self).out_trade_no)

    def describe(self) -> str:
        return "customer confirms on the phone"


@step("customer_cancels")
@attrs.define
class CustomerCancels(Step):
    is_action = True
    help = "The customer cancels the waiting (USERPAYING) payment on the phone."
    example = "customer_cancels:"
    schema: ClassVar[dict[str, Any]] = NO_ARGUMENTS_SCHEMA

    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> CustomerCancels:
        expect_no_arguments(value, where, "customer_cancels")
        return cls()

    def run(self, ctx: StepContext) -> None:
        ctx.hands.customer_cancels(_last_sale(ctx, self).out_trade_no)

    def describe(self) -> str:
        return "customer cancels on the phone"


@step("customer_pays_qr")
@attrs.define
class CustomerPaysQr(Step):
    is_action = True
    help = "A customer scans the dynamic QR on the terminal's screen with a wallet and pays."
    example = "customer_pays_qr: {wallet: wechat}"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"wallet": {"enum": list(_WALLETS)}},
        "required": ["wallet"],
        "additionalProperties": False,
    }

    wallet: str
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> CustomerPaysQr:
        value = expect_mapping(value, where, "customer_pays_qr", {"wallet"})
        wallet = str(value.get("wallet", ""))
        if wallet not in _WALLETS:
            raise where.error(f"customer_pays_qr.wallet: expected one of {list(_WALLETS)}")
        return cls(wallet)

    def run(self, ctx: StepContext) -> None:
        screen = ctx.view.screen()
        if screen.id is not ScreenId.SHOW_QR or not screen.lines:
            raise ctx.fail(self, f"no QR on the screen ({ctx.view.screen_text()})")
        ctx.hands.customer_pays_qr(screen.lines[-1], self.wallet)

    def describe(self) -> str:
        return f"customer pays the QR with {self.wallet}"


@step("replay_notify")
@attrs.define
class ReplayNotify(Step):
    is_action = True
    help = (
        "The gateway sends the last order's payment notify again (a duplicate notify). The "
        "step ends once the gateway has delivered it (and any other notify due within 60 s "
        "of virtual time), so the next expectation sees the terminal's answer."
    )
    example = "replay_notify:"
    schema: ClassVar[dict[str, Any]] = NO_ARGUMENTS_SCHEMA

    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ReplayNotify:
        expect_no_arguments(value, where, "replay_notify")
        return cls()

    def run(self, ctx: StepContext) -> None:
        ctx.hands.replay_notify(_last_sale(ctx, self).out_trade_no)
        ctx.settle_background()

    def describe(self) -> str:
        return "gateway replays the notify"


@step("forge_notify")
@attrs.define
class ForgeNotify(Step):
    is_action = True
    help = (
        "Someone posts a payment notify for the last order to the terminal with a wrong "
        "signature; the terminal must answer 401 and ignore it."
    )
    example = "forge_notify:"
    schema: ClassVar[dict[str, Any]] = NO_ARGUMENTS_SCHEMA

    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ForgeNotify:
        expect_no_arguments(value, where, "forge_notify")
        return cls()

    def run(self, ctx: StepContext) -> None:
        status = ctx.hands.forge_notify(_last_sale(ctx, self))
        if status != 401:
            raise ctx.fail(self, f"the terminal answered a forged notify with HTTP {status}")

    def describe(self) -> str:
        return "post a forged notify"


@step("refund")
@attrs.define
class Refund(Step):
    is_action = True
    help = (
        "The cashier refunds (part of) a payment: `order: last` (the last sale, card or QR) "
        "or an order number. A card refund needs the card presented next (insert_card or "
        "swipe_card; docs/settlement.md)."
    )
    example = 'refund: {order: last, amount: "5.00"}'
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"order": _ORDER_SCHEMA, "amount": AMOUNT_SCHEMA},
        "required": ["amount"],
        "additionalProperties": False,
    }

    amount_fen: int
    order: str = "last"
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> Refund:
        value = expect_mapping(value, where, "refund", {"order", "amount"})
        try:
            fen = parse_yuan(str(value.get("amount", "")))
        except ValueError as exc:
            raise where.error(f"refund.amount: {exc}") from None
        if fen <= 0:
            raise where.error("refund.amount: must be above zero")
        return cls(fen, str(value.get("order", "last")))

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, 600.0)
        card_sale = card_sale_for(ctx, self.order)
        if card_sale is not None:
            ctx.state.sale = ctx.hands.start_refund(card_sale.order_no, self.amount_fen, "card")
            return
        sale = _last_sale(ctx, self)
        order = sale.out_trade_no if self.order == "last" else self.order
        method = sale.channel or sale.method
        ctx.state.sale = ctx.hands.start_refund(order, self.amount_fen, method)

    def describe(self) -> str:
        return f"refund RMB {format_yuan(self.amount_fen)} of order {self.order}"


@step("void")
@attrs.define
class Void(Step):
    is_action = True
    help = (
        "The cashier voids a payment the same day (`order: last`, the last sale, card or QR; "
        "or an order number): in full. A card sale must be in the open batch."
    )
    example = "void: {order: last}"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"order": _ORDER_SCHEMA},
        "additionalProperties": False,
    }

    order: str = "last"
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> Void:
        value = expect_mapping(value, where, "void", {"order"})
        return cls(str(value.get("order", "last")))

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, 600.0)
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


@step("expect_qr_order")
@attrs.define
class ExpectQrOrder(Step):
    is_action = False
    help = (
        "The gateway's order for the last QR sale is in this trade state (SUCCESS, REVOKED, "
        "CLOSED, REFUND ...; NONE: no order, nothing charged), on this channel, with this "
        "much refunded, and the terminal journal agrees. Read from the gateway's own store "
        "(no request in the terminal's traffic), once the current operation has ended -- or "
        "at once with `now: true`: `{state: USERPAYING, now: true}` while the customer has "
        "not yet confirmed."
    )
    example = "expect_qr_order: {state: SUCCESS, channel: wechat}"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "state": {"enum": [*_AGREEING, "NONE"]},
            "channel": {"enum": list(_WALLETS)},
            "refunded": AMOUNT_SCHEMA,
            "now": NOW_SCHEMA,
        },
        "required": ["state"],
        "additionalProperties": False,
    }

    state: str
    channel: str | None = None
    refunded_fen: int | None = None
    now: bool = False
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectQrOrder:
        value = expect_mapping(
            value, where, "expect_qr_order", {"state", "channel", "refunded", "now"}
        )
        state = str(value.get("state", "")).upper()
        if state not in (*_AGREEING, "NONE"):
            raise where.error(f"expect_qr_order.state: expected one of {[*_AGREEING, 'NONE']}")
        refunded = value.get("refunded")
        try:
            refunded_fen = None if refunded is None else parse_yuan(str(refunded))
        except ValueError as exc:
            raise where.error(f"expect_qr_order.refunded: {exc}") from None
        channel = value.get("channel")
        return cls(
            state,
            None if channel is None else str(channel),
            refunded_fen,
            parse_now(value, where, "expect_qr_order"),
        )

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now, within=600.0)
        sale = _last_sale(ctx, self)
        order = ctx.view.qr_order(sale.out_trade_no)
        state = str(order.get("trade_state", ""))
        nothing_charged = state in ("NONE", "PAYERROR", "CLOSED")
        if state != self.state and not (self.state == "NONE" and nothing_charged):
            raise ctx.fail(self, f"expected the gateway order {self.state}, it is {state}")
        if self.channel is not None and order.get("channel", sale.channel) != self.channel:
            raise ctx.fail(self, f"expected channel {self.channel}, got {order.get('channel')}")
        if self.refunded_fen is not None and order.get("refunded_fen") != self.refunded_fen:
            raise ctx.fail(
                self, f"expected {self.refunded_fen} fen refunded, got {order.get('refunded_fen')}"
            )
        agreeing = _AGREEING.get(state, {QrState.FAILED})
        if sale.state not in agreeing:
            raise ctx.fail(
                self,
                f"the gateway says {state} but the terminal journal says {sale.state.value} "
                f"({sale.reason})",
            )
        if state == "REFUND" and self.refunded_fen is not None:
            refunds = [
                e
                for e in ctx.view.qr_journal()
                if e.operation == "refund"
                and e.out_trade_no == sale.out_trade_no
                and e.state is QrState.REFUND
            ]
            if sum(e.amount_fen for e in refunds) != self.refunded_fen:
                raise ctx.fail(self, "the journal's refunds do not add up to the gateway's")

    def describe(self) -> str:
        text = f"QR order {self.state}" + (f" on {self.channel}" if self.channel else "")
        return text + (" now" if self.now else "")


@step("expect_notifies")
@attrs.define
class ExpectNotifies(Step):
    is_action = False
    help = (
        "The terminal's notify receiver saw this many notifies of each verdict: accepted, "
        "duplicate, late, forged (rejected with 401). Only dynamic-QR sales (the terminal "
        "shows the QR) register a notify URL; a scanned code's payment is confirmed by the "
        "micropay answer or by querying, so it brings no notify. Notifies come in the "
        "background: once the current operation has ended, the counts may take up to "
        "`within` (virtual time, default 120 s) to be reached; a count already passed fails "
        "at once."
    )
    example = "expect_notifies: {accepted: 1, duplicate: 1}"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            **{
                verdict: {"type": "integer", "minimum": 0}
                for verdict in ("accepted", "duplicate", "late", "forged")
            },
            "within": DURATION_SCHEMA,
        },
        "additionalProperties": False,
    }

    counts: Mapping[str, int]
    within: float = DEFAULT_WITHIN
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectNotifies:
        verdicts = {"accepted", "duplicate", "late", "forged"}
        value = expect_mapping(value, where, "expect_notifies", {*verdicts, "within"})
        counts = {}
        for key, count in value.items():
            if key == "within":
                continue
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise where.error(f"expect_notifies.{key}: expected a whole number")
            counts[str(key)] = count
        within = parse_duration(value.get("within", DEFAULT_WITHIN), where, "within")
        return cls(counts, within)

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, 600.0)

        def tally() -> dict[str, int]:
            verdicts = [notify.verdict for notify in ctx.view.notifies()]
            return {verdict: verdicts.count(verdict) for verdict in self.counts}

        def decided() -> bool:  # counts only grow: one passed cannot come back
            counts = tally()
            reached = all(got >= self.counts[v] for v, got in counts.items())
            return reached or any(got > self.counts[v] for v, got in counts.items())

        ctx.clock.wait_until(decided, self.within)
        seen = [notify.event for notify in ctx.view.notifies()]
        for verdict, got in tally().items():
            wanted = self.counts[verdict]
            if got != wanted:
                raise ctx.fail(
                    self,
                    f"expected {wanted} {verdict} notify(ies) within {self.within:g} s, saw {got}",
                    seen,
                )

    def describe(self) -> str:
        return "notifies " + ", ".join(f"{k}={v}" for k, v in self.counts.items())
