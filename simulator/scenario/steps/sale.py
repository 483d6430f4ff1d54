"""The cashier's side of a payment: start it, cancel it, let time pass -- and the
answer the acquiring app called the cashier app back with."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import attrs

from simulator.gateway.magic import MagicAmounts
from simulator.scenario.args import arg
from simulator.scenario.kinds import Fen, Seconds
from simulator.scenario.model import Action, Expectation, StepContext
from simulator.scenario.steps.common import within_arg
from simulator.terminal.cashier_cancel import CancelRefused
from simulator.terminal.contract import IntentResult
from simulator.terminal.qr_payments import QR_CHANNELS
from simulator.terminal.vendor_names import VENDORS
from simulator.wire.money import format_yuan

# card; scan (the customer's code is scanned); or a dynamic QR of one channel.
METHODS = ("card", "scan", *QR_CHANNELS)
ISSUANCES = ("central", "member")


@functools.cache
def _magic_amounts() -> MagicAmounts:
    return MagicAmounts.load()


@attrs.frozen(kw_only=True)
class Sale(Action):
    keyword = "sale"
    shorthand = "amount"
    help = (
        "The cashier enters an amount (yuan) and starts a payment by the given method: card, "
        "scan (scan the customer's payment code), or wechat / alipay / unionpay_qr (show a "
        "dynamic QR; unionpay_qr may add issuance: central or member)."
    )
    example = 'sale: "12.34"   # or: sale: {amount: "12.34", method: scan}'

    amount: Fen = arg(minimum=1)
    method: str = arg("card", choices=METHODS)
    issuance: str | None = arg(None, choices=ISSUANCES)

    def check(self) -> str | None:
        if self.issuance is not None and self.method != "unionpay_qr":
            return "sale.issuance: only for unionpay_qr, central or member"
        return None

    def builtin_gateway_need(self) -> str:
        if self.method != "card":
            return ""
        magic = _magic_amounts().outcome_for(self.amount)
        if magic is None:
            return ""
        return (
            f"sale: RMB {format_yuan(self.amount)} is a magic amount of the built-in gateway "
            f"({magic.meaning})"
        )

    def run(self, ctx: StepContext) -> None:
        ctx.state.last_sale_method = self.method
        ctx.state.sale = ctx.hands.start_sale(self.amount, self.method, self.issuance or "")

    def describe(self) -> str:
        return f"sale RMB {format_yuan(self.amount)} by {self.method}"


@attrs.frozen(kw_only=True)
class CashierCancels(Action):
    keyword = "cashier_cancels"
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

    def run(self, ctx: StepContext) -> None:
        try:
            taken = ctx.hands.cancel_payment()
        except CancelRefused as exc:
            raise ctx.fail(self, f"the terminal refused CANCEL: {exc}") from None
        if not taken:
            raise ctx.fail(self, f"no payment in progress to cancel ({ctx.view.screen_text()})")

    def describe(self) -> str:
        return "cashier presses CANCEL"


@attrs.frozen(kw_only=True)
class Wait(Action):
    keyword = "wait"
    shorthand = "seconds"
    mapping = False
    help = "Let time pass (virtual time: instant in a simulation)."
    example = "wait: 30s"

    seconds: Seconds = arg()

    def run(self, ctx: StepContext) -> None:
        ctx.hands.wait(self.seconds)

    def describe(self) -> str:
        return f"wait {self.seconds:g} s"


@attrs.frozen(kw_only=True)
class ExpectCallback(Expectation):
    keyword = "expect_callback"
    help = (
        "The acquiring app called the cashier app back with OK or CANCELED (and a reason); "
        "`code` and `extras` check the answer in the vendor's own terms (docs/vendors.md): "
        "its result code (or the result broadcast's action) and `key=value` extras, "
        "`a.b=v` inside a JSON extra; with `vendor:` the check applies only when the "
        "terminal runs that vendor's contract."
    )
    example = (
        'expect_callback: {result: CANCELED, reason_contains: "51"}   # or: {result: OK, '
        'vendor: newland, code: RESULT_OK, extras: ["msg_tp=0210", "txndetail.pay_tp=0"]}'
    )

    result: str = arg(choices=("OK", "CANCELED"))
    reason_contains: str | None = arg(None)
    vendor: str | None = arg(None, choices=VENDORS)
    code: str | None = arg(None)
    extras: tuple[str, ...] = arg(())
    within: Seconds = within_arg()

    def check(self) -> str | None:
        for item in self.extras:
            if "=" not in item:
                return f"expect_callback.extras: {item!r}: expected key=value"
        return None

    def run(self, ctx: StepContext) -> None:
        if self.vendor is not None and ctx.view.config.vendor != self.vendor:
            return  # another vendor's answer: checked by its own line
        sale = ctx.finished_sale(self, self.within)
        outcome = sale.outcome
        if sale.answer is not None:
            self._check_answer(ctx, sale.answer)
        elif self.code is not None or self.extras:
            raise ctx.fail(self, f"no answer came back: {outcome.reason}")
        if outcome.approved != (self.result == "OK"):
            got = "OK" if outcome.approved else f"CANCELED ({outcome.reason})"
            raise ctx.fail(self, f"expected {self.describe()}, the callback was {got}")
        if self.reason_contains is not None and self.reason_contains not in outcome.reason:
            raise ctx.fail(
                self,
                f"expected the reason to contain {self.reason_contains!r}, "
                f"it was {outcome.reason!r}",
            )

    def _check_answer(self, ctx: StepContext, answer: IntentResult) -> None:
        got_code = answer.result_code if answer.broadcast is None else answer.broadcast
        if self.code is not None and got_code != self.code:
            raise ctx.fail(self, f"expected the vendor's code {self.code}, it was {got_code}")
        for item in self.extras:
            path, _, want = item.partition("=")
            got = _extra(answer.extras, path)
            if got != want:
                raise ctx.fail(
                    self, f"expected extra {path}={want!r}, it was {got!r} in {answer.to_json()}"
                )

    def describe(self) -> str:
        return f"callback {self.result}"


def _extra(extras: Mapping[str, Any], path: str) -> str | None:
    """``a.b``: key ``b`` of the JSON object in extra ``a`` (as a string; None if absent)."""
    value: Any = extras
    for key in path.split("."):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    if isinstance(value, bool):
        return str(value).lower()
    return None if isinstance(value, (Mapping, list)) else str(value)
