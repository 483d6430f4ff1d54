"""Pre-authorisation steps: a pre-auth read from the card, its completion, its void and the
completion's void (docs/gateway.md). The messages are built by the terminal
(:mod:`simulator.terminal.authorisation`), never here."""

from __future__ import annotations

from typing import Any

import attrs

from simulator.scenario.args import arg
from simulator.scenario.kinds import Fen, Text
from simulator.scenario.model import Action, StepContext
from simulator.terminal.journal import JournalEntry
from simulator.wire.money import format_yuan

# An operation that waits for the one before it gives it this long to end.
_PREVIOUS_WITHIN = 600.0


def _order_arg(what: str) -> Any:
    return arg(
        "last",
        kind=Text(string_only=True),
        help=f"`last` (the scenario's last {what}) or its order number.",
    )


def _original(ctx: StepContext, step: Action, order: str, operation: str) -> JournalEntry:
    """The journal row of ``operation`` the step names (``last`` or an order number / RRN)."""
    rows = [
        e
        for e in ctx.view.journal()
        if e.operation == operation and order in ("last", e.order_no, e.rrn)
    ]
    if not rows:
        what = "pre-auth" if operation == "preauth" else "completion"
        raise ctx.fail(step, f"no {what} {order!r} in the terminal journal")
    return rows[-1]


def _begin(ctx: StepContext, step: Action) -> None:
    if ctx.state.sale is not None:
        ctx.finished_sale(step, _PREVIOUS_WITHIN)
    ctx.state.last_sale_method = "card"


@attrs.frozen(kw_only=True)
class Preauth(Action):
    keyword = "preauth"
    shorthand = "amount"
    help = (
        "The cashier starts a card pre-authorisation of this amount (yuan): the card is read "
        "and verified like a sale's (insert_card / swipe_card, enter_pin next) and the host "
        "holds the amount without charging it (0100, `possim docs gateway`)."
    )
    example = 'preauth: "500.00"'

    amount: Fen = arg(minimum=1)

    def run(self, ctx: StepContext) -> None:
        _begin(ctx, self)
        ctx.state.sale = ctx.hands.start_preauth("preauth", self.amount)

    def describe(self) -> str:
        return f"pre-auth RMB {format_yuan(self.amount)}"


@attrs.frozen(kw_only=True)
class PreauthCompletion(Action):
    keyword = "preauth_completion"
    help = (
        "The cashier completes a pre-authorisation with the amount actually owed (yuan; above "
        "the pre-auth up to the acquirer's tolerance): no card, the terminal names the "
        "pre-auth by its RRN and auth code; `quote: true` also puts the auth code and date "
        "in the cashier's order (PaymentOrder.orig_auth_code / orig_date), which reach the "
        "acquiring app where the vendor's contract has keys for them."
    )
    example = 'preauth_completion: {amount: "312.40"}   # of the last pre-auth'

    amount: Fen = arg(minimum=1)
    order: str = _order_arg("`preauth:`")
    quote: bool = arg(False, help="quote the pre-auth's auth code and date (MMDD)")

    def run(self, ctx: StepContext) -> None:
        _begin(ctx, self)
        preauth = _original(ctx, self, self.order, "preauth")
        ctx.state.sale = ctx.hands.start_preauth(
            "preauth_completion",
            self.amount,
            preauth.order_no,
            orig_auth_code=preauth.auth_code if self.quote else "",
            orig_date=preauth.transmission[:4] if self.quote else "",
        )

    def describe(self) -> str:
        return f"complete pre-auth {self.order} with RMB {format_yuan(self.amount)}"


@attrs.frozen(kw_only=True)
class PreauthVoid(Action):
    keyword = "preauth_void"
    help = (
        "The cashier voids a pre-authorisation (in full, no card): the hold is released. "
        "A completed pre-auth is refused until its completion is voided."
    )
    example = "preauth_void: {order: last}"

    order: str = _order_arg("`preauth:`")

    def run(self, ctx: StepContext) -> None:
        _begin(ctx, self)
        preauth = _original(ctx, self, self.order, "preauth")
        ctx.state.sale = ctx.hands.start_preauth(
            "preauth_void", preauth.amount_fen, preauth.order_no
        )

    def describe(self) -> str:
        return f"void pre-auth {self.order}"


@attrs.frozen(kw_only=True)
class PreauthCompletionVoid(Action):
    keyword = "preauth_completion_void"
    help = (
        "The cashier voids a completion (in full, open batch, no card): its charge is given "
        "back and the pre-authorisation stands again."
    )
    example = "preauth_completion_void: {order: last}"

    order: str = _order_arg("`preauth_completion:`")

    def run(self, ctx: StepContext) -> None:
        _begin(ctx, self)
        completion = _original(ctx, self, self.order, "preauth_completion")
        ctx.state.sale = ctx.hands.start_preauth(
            "preauth_completion_void", completion.amount_fen, completion.order_no
        )

    def describe(self) -> str:
        return f"void completion {self.order}"
