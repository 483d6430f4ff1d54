"""Card voids, refunds and the terminal's batch close (ISO 8583 0500) as steps.

``void`` and ``refund`` (:mod:`simulator.scenario.steps.orders`) handle card
sales too, through :func:`card_sale_for`: the last sale is whichever came last,
card or QR. This module adds the batch close (``settle``,
``expect_settlement``) and the host-side fault behind an out-of-balance batch:
a sale the host approved on this terminal's batch that the terminal never
recorded (``unrecorded_sale``). A reply lost on the way back is
``gateway_fault: {drop_response: true, kind: ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from simulator.devices.card_image import CardImage
from simulator.scenario.args import arg
from simulator.scenario.kinds import AMOUNT_SCHEMA, YUAN, BatchNo, Declared, Fen, Kind
from simulator.scenario.model import DEFAULT_WITHIN, Action, Expectation, StepContext, Where
from simulator.terminal.journal import JournalEntry, SettlementState, TxnState
from simulator.wire.money import format_yuan

RESULTS = tuple(state.value for state in SettlementState if state is not SettlementState.PENDING)


def card_sale_for(ctx: StepContext, order: str) -> JournalEntry | None:
    """The card sale a ``void``/``refund`` step names, or None if it means a QR sale.

    ``last``: the latest card sale, if the scenario's latest ``sale:`` was by card;
    any other value: a card sale with that order number or RRN.
    """
    if order != "last":
        return ctx.view.card_sale(order)
    if ctx.state.last_sale_method != "card":
        return None
    cards = [e for e in ctx.view.journal() if e.operation == "sale"]
    return cards[-1] if cards else None


# expect_settlement's totals -> the journal operation each counts.
_TOTALLED = {
    "sales": "sale",
    "voids": "void",
    "refunds": "refund",
    "completions": "preauth_completion",
}


@attrs.frozen
class Total:
    count: int | None
    fen: int | None


class Totals(Kind):
    """``{count, total}``: how many approved operations of a kind, and their sum in yuan."""

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {
            "type": "object",
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "total": dict(AMOUNT_SCHEMA),
            },
            "additionalProperties": False,
        }

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> Total:
        if not isinstance(value, Mapping) or set(value) - {"count", "total"}:
            raise where.error(f"{what}: expected a mapping of count and/or total, got {value!r}")
        count = value.get("count")
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 0
        ):
            raise where.error(f"{what}.count: expected a whole number of 0 or more, got {count!r}")
        total = value.get("total")
        fen = None if total is None else YUAN.parse(total, arg, f"{what}.total", where)
        return Total(count, fen)


@attrs.frozen(kw_only=True)
class Settle(Action):
    keyword = "settle"
    help = (
        "The cashier closes the card batch (结算, proc_cd 900000): the terminal sends its "
        "totals in a 0500, the host recounts, the settlement report prints and the next "
        "batch opens (`possim docs settlement`)."
    )
    example = "settle:"

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, 600.0)
        ctx.state.sale = ctx.hands.start_settlement()

    def describe(self) -> str:
        return "settle the card batch"


@attrs.frozen(kw_only=True)
class ExpectSettlement(Expectation):
    keyword = "expect_settlement"
    needs_builtin_gateway = (
        "expect_settlement: reads the built-in gateway's record of the batch close"
    )
    help = (
        "The last batch close ended so (balanced, out_of_balance, or failed: the batch stays "
        "open), for batch `batch`, with these approved sales / voids / refunds / pre-auth "
        "completions (count, total in yuan) in that batch; the host's record of it agrees."
    )
    example = 'expect_settlement: {result: balanced, sales: {count: 2, total: "46.90"}}'

    result: str = arg(choices=RESULTS)
    batch: BatchNo | None = arg(None)
    sales: Total | None = arg(None, kind=Totals())
    voids: Total | None = arg(None, kind=Totals())
    refunds: Total | None = arg(None, kind=Totals())
    completions: Total | None = arg(None, kind=Totals())

    def run(self, ctx: StepContext) -> None:
        ctx.finished_sale(self, DEFAULT_WITHIN)
        settlements = ctx.view.settlements()
        if not settlements:
            raise ctx.fail(self, "the terminal journal has no batch close")
        last = settlements[-1]
        if last.state.value != self.result:
            raise ctx.fail(
                self,
                f"expected the batch close {self.result}, it is {last.state.value} ({last.reason})",
            )
        if self.batch is not None and last.batch_no != self.batch:
            raise ctx.fail(self, f"expected batch {self.batch}, the last close was {last.batch_no}")
        entries = ctx.view.journal(batch_no=last.batch_no)
        for name, operation in _TOTALLED.items():
            wanted: Total | None = getattr(self, name)
            if wanted is None:
                continue
            found = [
                e.amount_fen
                for e in entries
                if e.state is TxnState.APPROVED and e.operation == operation
            ]
            got = Total(len(found), sum(found))
            if wanted.count is not None and got.count != wanted.count:
                raise ctx.fail(self, f"expected {wanted.count} {name}, batch has {got.count}")
            if wanted.fen is not None and got.fen != wanted.fen:
                raise ctx.fail(
                    self,
                    f"expected {name} of RMB {format_yuan(wanted.fen)}, batch has RMB "
                    f"{format_yuan(got.fen or 0)}",
                )
        if last.state is SettlementState.FAILED:
            return
        record = ctx.view.ledger_settlement(last.stan, last.transmission)
        if record is None or record.result != self.result:
            seen = "nothing" if record is None else record.result
            raise ctx.fail(self, f"the host's ledger recorded {seen} for this batch close")

    def describe(self) -> str:
        extra = f" batch {self.batch}" if self.batch else ""
        return f"settlement {self.result}{extra}"


@attrs.frozen(kw_only=True)
class UnrecordedSale(Action):
    keyword = "unrecorded_sale"
    needs_builtin_gateway = "unrecorded_sale: writes a sale into the built-in gateway's ledger"
    help = (
        "Fault: the host approves a magnetic-stripe sale on this terminal's id and open batch "
        "that the terminal never recorded (a second device configured with the same terminal "
        "id, or a journal restored from an old backup); the next batch close is out of "
        "balance."
    )
    example = 'unrecorded_sale: {amount: "8.00", card: unionpay_debit}'

    amount: Fen = arg(minimum=1)
    card: CardImage = arg()

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, 600.0)
        code = ctx.hands.unrecorded_sale(self.amount, self.card)
        if code != "00":
            raise ctx.fail(self, f"the host did not approve the unrecorded sale (DE39 {code})")

    def describe(self) -> str:
        return f"unrecorded sale RMB {format_yuan(self.amount)} with {self.card.name}"
