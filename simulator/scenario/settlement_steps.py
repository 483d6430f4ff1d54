"""Card voids, refunds and the terminal's batch close (ISO 8583 0500) as steps.

``void`` and ``refund`` (qr_steps.py) handle card sales too, through
:func:`card_sale_for`: the last sale is whichever came last, card or QR.
This module adds the batch close (``settle``, ``expect_settlement``) and the
host-side fault behind an out-of-balance batch: a sale the host approved on
this terminal's batch that the terminal never recorded (``unrecorded_sale``).
A reply lost on the way back is ``gateway_fault: {drop_response: true, kind: ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from simulator.devices.card_image import CardImage
from simulator.errors import FixtureError
from simulator.scenario.model import (
    AMOUNT_SCHEMA,
    DEFAULT_WITHIN,
    NO_ARGUMENTS_SCHEMA,
    Step,
    StepContext,
    Where,
    expect_mapping,
    expect_no_arguments,
    step,
)
from simulator.terminal.amounts import format_yuan, parse_yuan
from simulator.terminal.journal import JournalEntry, SettlementState, TxnState

_RESULTS = tuple(state.value for state in SettlementState if state is not SettlementState.PENDING)
_TOTALS = ("sales", "voids", "refunds")
_TOTAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"count": {"type": "integer", "minimum": 0}, "total": AMOUNT_SCHEMA},
    "additionalProperties": False,
}


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


@step("settle")
@attrs.define
class Settle(Step):
    is_action = True
    help = (
        "The cashier closes the card batch (结算, proc_cd 900000): the terminal sends its "
        "totals in a 0500, the host recounts, the settlement report prints and the next "
        "batch opens (docs/settlement.md)."
    )
    example = "settle:"
    schema: ClassVar[dict[str, Any]] = NO_ARGUMENTS_SCHEMA

    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> Settle:
        expect_no_arguments(value, where, "settle")
        return cls()

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, 600.0)
        ctx.state.sale = ctx.hands.start_settlement()

    def describe(self) -> str:
        return "settle the card batch"


def _is_batch(value: object) -> bool:
    return isinstance(value, str) and len(value) == 6 and value.isdigit()


@attrs.frozen
class _Total:
    count: int | None
    fen: int | None


def _parse_total(value: Any, where: Where, what: str) -> _Total:
    value = expect_mapping(value, where, what, {"count", "total"})
    count = value.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise where.error(f"{what}.count: expected a whole number")
    total = value.get("total")
    try:
        fen = None if total is None else parse_yuan(str(total))
    except ValueError as exc:
        raise where.error(f"{what}.total: {exc}") from None
    return _Total(count, fen)


@step("expect_settlement")
@attrs.define
class ExpectSettlement(Step):
    is_action = False
    help = (
        "The last batch close ended so (balanced, out_of_balance, or failed: the batch stays "
        "open), for batch `batch`, with these approved sales / voids / refunds (count, total "
        "in yuan) in that batch; the host's record of it agrees."
    )
    example = 'expect_settlement: {result: balanced, sales: {count: 2, total: "46.90"}}'
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "result": {"enum": list(_RESULTS)},
            "batch": {"type": "string", "pattern": "^[0-9]{6}$"},
            **{name: _TOTAL_SCHEMA for name in _TOTALS},
        },
        "required": ["result"],
        "additionalProperties": False,
    }

    result: str
    batch: str | None = None
    totals: Mapping[str, _Total] = attrs.field(factory=dict)
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectSettlement:
        value = expect_mapping(value, where, "expect_settlement", {"result", "batch", *_TOTALS})
        result = str(value.get("result", ""))
        if result not in _RESULTS:
            raise where.error(f"expect_settlement.result: expected one of {', '.join(_RESULTS)}")
        batch = value.get("batch")
        if batch is not None and not (
            isinstance(batch, str) and len(batch) == 6 and batch.isdigit()
        ):
            raise where.error('expect_settlement.batch: expected 6 digits in quotes, like "000001"')
        totals = {
            name: _parse_total(value[name], where, f"expect_settlement.{name}")
            for name in _TOTALS
            if name in value
        }
        return cls(result, batch, totals)

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
        for name, wanted in self.totals.items():
            rows = [
                e.amount_fen
                for e in entries
                if e.state is TxnState.APPROVED and f"{e.operation}s" == name
            ]
            got = _Total(len(rows), sum(rows))
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


@step("unrecorded_sale")
@attrs.define
class UnrecordedSale(Step):
    is_action = True
    help = (
        "Fault: the host approves a magnetic-stripe sale on this terminal's id and open batch "
        "that the terminal never recorded (a second device configured with the same terminal "
        "id, or a journal restored from an old backup); the next batch close is out of "
        "balance."
    )
    example = 'unrecorded_sale: {amount: "8.00", card: unionpay_debit}'
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"amount": AMOUNT_SCHEMA, "card": {"type": "string"}},
        "required": ["amount", "card"],
        "additionalProperties": False,
    }

    amount_fen: int
    card: CardImage
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> UnrecordedSale:
        value = expect_mapping(value, where, "unrecorded_sale", {"amount", "card"})
        try:
            fen = parse_yuan(str(value.get("amount", "")))
        except ValueError as exc:
            raise where.error(f"unrecorded_sale.amount: {exc}") from None
        if fen <= 0:
            raise where.error("unrecorded_sale.amount: must be above zero")
        try:
            card = CardImage.load(str(value.get("card", "")))
        except FixtureError as exc:
            raise where.error(f"unrecorded_sale.card: {exc}") from None
        return cls(fen, card)

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, 600.0)
        code = ctx.hands.unrecorded_sale(self.amount_fen, self.card)
        if code != "00":
            raise ctx.fail(self, f"the host did not approve the unrecorded sale (DE39 {code})")

    def describe(self) -> str:
        return f"unrecorded sale RMB {format_yuan(self.amount_fen)} with {self.card.name}"
