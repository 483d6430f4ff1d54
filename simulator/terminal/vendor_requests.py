"""What a vendor's request leaves to its acquiring app, filled in from the journal.

Vendors name the transaction to undo differently -- Newland's ``systraceno`` (the
voucher number), Lakala's ``batchbillno`` (batch + voucher), Sunmi's
``oriReferenceNo`` (RRN), an order number -- and some leave out what possim's
payments need: the channel of a QR payment (Newland's 680000, WangPOS's refund),
the amount (empty: in full), the order number of a refund. :class:`OrderResolver`
completes the parsed order, or refuses it as the vendor's app would
(``ContractViolation`` with failure ``invalid_original``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from drivers.clock import Clock
from simulator.terminal.contract import (
    ContractViolation,
    IntentContract,
    IntentRequest,
    IntentResult,
    PaymentOrder,
    PaymentOutcome,
    TransactionDetail,
)
from simulator.terminal.display import Display, ScreenId
from simulator.terminal.financial_requests import Merchant
from simulator.terminal.journal import Journal, QrEntry, QrState, TxnState

STAN_DIGITS = 6
CARD_TYPES = ("debit", "credit", "prepaid")


class IntentDoor:
    """The acquiring app's side of the vendor contract: read the request, refuse what
    the vendor's app would refuse, run the payment, answer in the vendor's keys."""

    def __init__(
        self,
        contract: IntentContract,
        journal: Journal,
        display: Display,
        clock: Clock,
        merchant_name: str,
        merchant: Merchant | None = None,
    ) -> None:
        self.contract = contract
        self._journal = journal
        self._merchant = merchant
        self._resolver = OrderResolver(journal, clock)
        self._display = display
        self._clock = clock
        self._merchant_name = merchant_name

    def answer(
        self,
        request: IntentRequest | Mapping[str, Any],
        run: Callable[[PaymentOrder], PaymentOutcome],
    ) -> IntentResult:
        contract = self.contract
        if not isinstance(request, IntentRequest):
            request = contract.request(request)
        elif not contract.addresses(request):
            where = request.component or request.action or request.uri
            violation = ContractViolation(
                f"no app here answers {where!r}; this terminal's is {contract.component}",
                "unsupported",
            )
            return contract.refusal(violation, request)
        try:
            order = self._resolver.resolve(contract.parse_request(request))
        except ContractViolation as exc:
            self._display.show(ScreenId.CANCELLED, "交易取消 Cancelled", str(exc))
            return contract.refusal(exc, request)
        outcome = self._query(order) if order.operation == "query" else run(order)
        if outcome.detail is not None:
            detail = complete_detail(outcome.detail, self._merchant_name)
            outcome = attrs.evolve(outcome, detail=detail)
        # The answer's time stamp is the terminal's (the year too), not the caller's.
        answered = attrs.evolve(order, timestamp=f"{self._clock.now():%Y%m%d%H%M%S}")
        return contract.build_result(outcome, request, answered)

    def _query(self, order: PaymentOrder) -> PaymentOutcome:
        """The query family (Newland's 0300 -> 0310, 700000): the terminal's own record
        of the transaction ``order_no`` names, nothing sent to a host."""
        detail = None if self._merchant is None else self._recorded(order.order_no)
        if detail is None:
            reason = f"query: no transaction with order number {order.order_no!r}"
            self._display.show(ScreenId.CANCELLED, "交易取消 Cancelled", reason)
            return PaymentOutcome(False, reason, failure="invalid_original")
        return PaymentOutcome(True, detail=detail)

    def _recorded(self, order_no: str) -> TransactionDetail | None:
        assert self._merchant is not None
        ids = {"merchant_id": self._merchant.merchant_id, "terminal_id": self._merchant.terminal_id}
        card = self._journal.find_sale(order_no)
        if card is not None and card.state is TxnState.APPROVED:
            return TransactionDetail(
                **ids,
                batch_no=card.batch_no,
                stan=card.stan,
                order_no=card.order_no,
                rrn=card.rrn,
                auth_code=card.auth_code,
                amount_fen=card.amount_fen,
                masked_pan=card.masked_pan,
                date=card.transmission[:4],
                time=card.transmission[4:],
                card_label=card.card_label,
                response_code=card.response_code,
            )
        for qr in reversed(self._journal.qr_entries()):
            if (
                qr.out_trade_no == order_no
                and qr.operation == "sale"
                and qr.state is QrState.SUCCESS
            ):
                return TransactionDetail(
                    **ids,
                    batch_no=self._journal.batch_no,
                    stan=f"{qr.id:06d}",
                    order_no=qr.out_trade_no,
                    rrn="",
                    auth_code="",
                    amount_fen=qr.amount_fen,
                    masked_pan="",
                    date=qr.created_at[5:7] + qr.created_at[8:10],
                    time=qr.created_at[11:19].replace(":", ""),
                    card_label=qr.channel,
                    response_code="00",
                    channel=qr.channel,
                    transaction_id=qr.transaction_id,
                )
        return None


# A follow-up naming its original by voucher number (Newland's systraceno, Sunmi's
# oriVoucherNo): the kind of row it names.
_ORIGINAL_BY_VOUCHER = {
    "void": "sale",
    "preauth_void": "preauth",
    "preauth_completion": "preauth",
    "preauth_completion_void": "preauth_completion",
}


class OrderResolver:
    def __init__(self, journal: Journal, clock: Clock) -> None:
        self._journal = journal
        self._clock = clock
        self._own_orders = 0

    def resolve(self, order: PaymentOrder) -> PaymentOrder:
        changes: dict[str, Any] = {}
        if order.orig_batch_bill and not order.orig_stan:  # batch number + voucher number
            changes["orig_stan"] = order.orig_batch_bill[-STAN_DIGITS:]
        if order.orig_rrn and not order.orig_order_no:  # a card sale is found by its RRN too
            changes["orig_order_no"] = order.orig_rrn
        stan = changes.get("orig_stan", order.orig_stan)
        by_voucher = _ORIGINAL_BY_VOUCHER.get(order.operation)
        if by_voucher and order.method == "card" and stan:
            changes["orig_order_no"] = self._by_voucher(stan, order.operation, by_voucher)
        if not order.order_no:
            self._own_orders += 1  # the vendor's app numbers what the cashier app did not
            changes["order_no"] = f"{self._clock.now():%Y%m%d%H%M%S}9{self._own_orders:03d}"
        undo = order.operation in ("void", "refund") and order.method in ("qr", "scan", "card")
        # A vendor whose undo names no channel (WangPOS's refund, Newland's 680000):
        # the original order number says whether it was a QR payment.
        original = self._qr_sale(order.orig_order_no) if undo and order.orig_order_no else None
        if original is None and order.method in ("qr", "scan") and undo:
            raise ContractViolation(
                f"order_no={order.orig_order_no!r}: no QR payment with this order number",
                "invalid_original",
            )
        if original is not None:
            changes["method"] = original.channel or original.method
            if not order.amount_fen:  # in full: a payment of today is reversed (撤销)
                changes["amount_fen"] = original.amount_fen
                today = f"{self._clock.now():%Y-%m-%d}"
                same_day = str(original.created_at).startswith(today)
                changes["operation"] = "void" if same_day else "refund"
        return attrs.evolve(order, **changes) if changes else order

    def _by_voucher(self, stan: str, operation: str, original: str) -> str:
        """The order number of the open batch's ``original`` (a card sale, a pre-auth,
        a completion) with voucher number ``stan``."""
        journal = self._journal
        # A void and a completion void undo what is in the open batch; a pre-auth may
        # be completed or voided batches later (the newest with this number).
        open_batch = operation in ("void", "preauth_completion_void")
        entries = journal.entries(batch_no=journal.batch_no if open_batch else None)
        for entry in reversed(entries):
            if entry.operation == original and entry.stan == stan.zfill(STAN_DIGITS):
                return entry.order_no
        what = original.replace("preauth_completion", "completion").replace("preauth", "pre-auth")
        raise ContractViolation(
            f"{operation}: no card {what} with voucher number {stan}"
            + (" in the open batch" if open_batch else ""),
            "invalid_original",
        )

    def _qr_sale(self, out_trade_no: str) -> QrEntry | None:
        for entry in reversed(self._journal.qr_entries()):
            if entry.operation == "sale" and entry.out_trade_no == out_trade_no:
                return entry
        return None


def complete_detail(detail: TransactionDetail, merchant_name: str) -> TransactionDetail:
    """What the vendor's result adds to the payment: the merchant's name and the
    card's type (Newland's cardtype), read from its label."""
    label = detail.card_label.lower()
    card_type = ""
    if not detail.channel and detail.masked_pan:
        card_type = next((kind for kind in CARD_TYPES if kind in label), "other")
    return attrs.evolve(detail, merchant_name=merchant_name, card_type=card_type)
