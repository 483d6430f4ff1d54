"""The merchant's cashier app: takes the amount, hands the payment to the
acquiring app through the vendor contract, and on the callback announces the
payment and prints the receipts."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs

from drivers.clock import Clock
from drivers.printer import PrintDocument, Printer
from drivers.speaker import Speaker
from simulator.events import SUMMARY_ONLY, EventBus, EventPayload
from simulator.terminal.announcements import Announcements, Announcer
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
from simulator.terminal.print_queue import DEFAULT_WAIT as DEFAULT_PRINTER_WAIT
from simulator.terminal.print_queue import PrintJob, PrintQueue
from simulator.terminal.qr_payments import mask_transaction_id
from simulator.wire.money import format_yuan
from simulator.wire.receipts import ReceiptTemplate

# Starts the acquiring app with the Intent and returns its result; on a device
# this is startActivityForResult (or the vendor's broadcast / service call), here
# the app-to-app bridge: AcquiringApp.on_intent.
Launcher = Callable[[IntentRequest], IntentResult]


@attrs.frozen
class IntentStarted(EventPayload):
    """The cashier app starts the acquiring app (an Intent with the contract's extras)."""

    source: ClassVar[str] = "cashier_app"
    kind: ClassVar[str] = "intent"

    component: str
    extras: Mapping[str, Any]
    method: str = attrs.field(metadata=SUMMARY_ONLY)
    operation: str = attrs.field(metadata=SUMMARY_ONLY)
    amount_fen: int = attrs.field(metadata=SUMMARY_ONLY)
    order_no: str = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return (
            f"start {self.component}: {self.method} {self.operation} "
            f"RMB {format_yuan(self.amount_fen)} order {self.order_no}"
        )


@attrs.frozen
class IntentRefused(EventPayload):
    """The vendor's contract has no such operation: the cashier app cannot ask for it."""

    source: ClassVar[str] = "cashier_app"
    kind: ClassVar[str] = "refused"

    vendor: str
    code: str  # the vendor's own refusal code
    reason: str

    def summary(self) -> str:
        return f"{self.vendor} refuses: {self.reason}"


@attrs.frozen
class CallbackReturned(EventPayload):
    """The acquiring app's result came back to the cashier app."""

    source: ClassVar[str] = "cashier_app"
    kind: ClassVar[str] = "callback"

    result_code: str
    extras: Mapping[str, Any]
    note: str = attrs.field(metadata=SUMMARY_ONLY)  # the reason given, or the extras' names

    def summary(self) -> str:
        return f"{self.result_code} {self.note}"


# The pre-authorisation family (docs/gateway.md): each prints its own slip, a
# merchant and a customer copy (firmware_fixtures/receipts/<operation>.yaml),
# and the cashier sees what happened.
PREAUTH_OPERATIONS = ("preauth", "preauth_completion", "preauth_void", "preauth_completion_void")
_BY_VOUCHER = ("void", *PREAUTH_OPERATIONS[1:])  # what names its original's voucher number
_PREAUTH_TITLES = {
    "preauth": "预授权成功 Pre-authorised",
    "preauth_completion": "预授权完成 Completed",
    "preauth_void": "预授权已撤销 Pre-auth voided",
    "preauth_completion_void": "完成已撤销 Completion voided",
}


def _original_rrn(original: TransactionDetail | None, reference: str) -> str:
    """The RRN of the sale a refund names: remembered, or given as the reference."""
    if original is not None:
        return original.rrn
    return reference if len(reference) == _RRN_LENGTH and reference.isalnum() else ""


_RRN_LENGTH = 12
_REMEMBERED_ORDERS = 10_000  # a busy day's sales
# What a later void, refund or pre-auth follow-up may name.
_REMEMBERED = ("sale", "preauth", "preauth_completion")
# What the receipt says about cardholder verification (never the PIN itself).
_CVM_TEXT = {
    "pin": "密码验证 PIN VERIFIED",
    "online_pin": "联机密码验证 ONLINE PIN",
    "signature": "",
    "none": "免密免签 NO CVM",
    "cdcvm": "手机验证 VERIFIED ON PHONE",  # a phone wallet's CDCVM (contactless)
}


@attrs.frozen
class SaleResult:
    order: PaymentOrder
    outcome: PaymentOutcome
    # The vendor's answer as it came back (None: the contract has no such operation).
    answer: IntentResult | None = None

    @property
    def approved(self) -> bool:
        return self.outcome.approved


class CashierApp:
    def __init__(
        self,
        *,
        contract: IntentContract,
        launcher: Launcher,
        speaker: Speaker,
        printer: Printer,
        receipt: ReceiptTemplate,
        merchant_name: str,
        display: Display,
        bus: EventBus,
        clock: Clock,
        printer_wait: float = DEFAULT_PRINTER_WAIT,
        announcer: Announcer | None = None,
        qr_receipt: ReceiptTemplate | None = None,
    ) -> None:
        self._qr_receipt = qr_receipt or ReceiptTemplate.load("qr_sale")
        # Voids and refunds print their own slips, a merchant and a customer copy
        # like a sale: a card's (docs/settlement.md) and a QR payment's.
        self._undo_receipts = {op: ReceiptTemplate.load(op) for op in ("void", "refund")}
        self._qr_undo_receipts = {op: ReceiptTemplate.load(f"qr_{op}") for op in ("void", "refund")}
        self._preauth_receipts = {op: ReceiptTemplate.load(op) for op in PREAUTH_OPERATIONS}
        # What to say on success, in which language (announcements.py).
        self._announcer = announcer or Announcements.load().announcer("zh")
        self._contract = contract
        self._launch = launcher
        self._speaker = speaker
        self._printer = printer
        self._receipt = receipt
        self._merchant_name = merchant_name
        self._display = display
        self._bus = bus
        self._clock = clock
        self._orders = 0
        # What each approved order came back with (a void names the sale's voucher
        # number, as a real cashier app keeps it); bounded like a day's orders.
        self._approved: dict[str, TransactionDetail] = {}
        # Receipts wait out printer faults there and are reprinted, never lost.
        self.print_queue = PrintQueue(
            printer, display=display, bus=bus, clock=clock, wait=printer_wait
        )

    @property
    def receipt_templates(self) -> dict[str, tuple[ReceiptTemplate, ...]]:
        """The templates of what this app prints, by operation: sale, void, refund."""
        return {
            "sale": (self._receipt, self._qr_receipt),
            "void": (self._undo_receipts["void"], self._qr_undo_receipts["void"]),
            "refund": (self._undo_receipts["refund"], self._qr_undo_receipts["refund"]),
            **{op: (template,) for op, template in self._preauth_receipts.items()},
        }

    def sale(self, amount_fen: int, method: str = "card", issuance: str = "") -> SaleResult:
        """A sale; ``method`` scan (the customer's code is scanned) or a QR channel
        (wechat / alipay / unionpay_qr: a dynamic QR; ``issuance`` for UnionPay)."""
        return self._start(amount_fen, method, "scan_pay" if method == "scan" else "sale", issuance)

    def refund(self, orig_order_no: str, amount_fen: int, method: str) -> SaleResult:
        """Refund (part of) an earlier payment, named by its order number (a card's: or RRN)."""
        return self._start(amount_fen, method, "refund", "", orig_order_no)

    def void(self, orig_order_no: str, amount_fen: int, method: str) -> SaleResult:
        """Void (same day / open batch) an earlier payment, in full."""
        return self._start(amount_fen, method, "void", "", orig_order_no)

    def preauth(
        self,
        operation: str,
        amount_fen: int,
        orig_order_no: str = "",
        *,
        orig_auth_code: str = "",
        orig_date: str = "",
    ) -> SaleResult:
        """A card pre-auth, or a follow-up of one named by its order number: a
        ``preauth_completion`` (which may quote the pre-auth's auth code and
        date, MMDD), ``preauth_void`` or ``preauth_completion_void``."""
        if operation not in PREAUTH_OPERATIONS:
            raise ValueError(f"{operation!r} is not one of {', '.join(PREAUTH_OPERATIONS)}")
        return self._start(
            amount_fen,
            "card",
            operation,
            "",
            orig_order_no,
            orig_auth_code=orig_auth_code,
            orig_date=orig_date,
        )

    def settle(self) -> SaleResult:
        """Close the card batch (proc_cd 900000): the acquiring app prints the report."""
        return self._start(0, "card", "settle")

    def _start(
        self,
        amount_fen: int,
        method: str,
        operation: str,
        print_info: str = "",
        orig_order_no: str = "",
        *,
        orig_auth_code: str = "",
        orig_date: str = "",
    ) -> SaleResult:
        if amount_fen <= 0 and operation != "settle":
            raise ValueError("a sale needs an amount above zero")
        now = self._clock.now()
        self._orders += 1
        original = self._approved.get(orig_order_no) if orig_order_no else None
        order = PaymentOrder(
            method=method,
            operation=operation,
            amount_fen=amount_fen,
            order_no=f"{now:%Y%m%d%H%M%S}{self._orders:04d}",
            timestamp=f"{now:%Y%m%d%H%M%S}",
            print_info=print_info,
            # A pre-auth follow-up names its original by the number the acquiring app
            # gave it (a vendor whose follow-ups carry the original in order_no has no
            # number of the cashier's own for a completion).
            orig_order_no=original.order_no
            if original is not None and operation in PREAUTH_OPERATIONS
            else orig_order_no,
            orig_auth_code=orig_auth_code,
            orig_date=orig_date,
            # A card void and a pre-auth follow-up: the original's voucher number too
            # (Newland's systraceno, Sunmi's oriVoucherNo).
            orig_stan=original.stan if original is not None and operation in _BY_VOUCHER else "",
            orig_rrn=_original_rrn(original, orig_order_no) if operation == "refund" else "",
        )
        return self._finish(order, *self._call(order))

    def relay(self, request: IntentRequest | Mapping[str, Any]) -> SaleResult:
        """Start the acquiring app with another cashier app's Intent (an app outside
        possim, through ``possim serve``) and follow up on its result as this app does
        on its own: screens, announcement, receipts. ``answer`` is what the acquiring
        app returned.

        Raises:
            ContractViolation: the request breaks the vendor contract (nothing started).
        """
        order = self._contract.parse_request(request)
        if not isinstance(request, IntentRequest):
            request = self._contract.request(request)
        return self._finish(order, *self._call(order, request))

    def _finish(
        self, order: PaymentOrder, outcome: PaymentOutcome, answer: IntentResult | None
    ) -> SaleResult:
        operation, amount_fen = order.operation, order.amount_fen
        if outcome.approved and outcome.detail is not None and operation == "settle":
            self._display.show(ScreenId.PAID, "结算完成 Settled", outcome.detail.card_label)
        elif outcome.approved and outcome.detail is not None and operation in ("refund", "void"):
            title = "退款成功 Refunded" if operation == "refund" else "撤销成功 Voided"
            self._display.show(ScreenId.PAID, title, f"RMB {format_yuan(amount_fen)}")
            slips = self._qr_undo_receipts if outcome.detail.channel else self._undo_receipts
            self._print_receipt(slips[operation], order, outcome.detail)
        elif outcome.approved and outcome.detail is not None and operation in PREAUTH_OPERATIONS:
            amount = format_yuan(outcome.detail.amount_fen)
            self._display.show(ScreenId.PAID, _PREAUTH_TITLES[operation], f"RMB {amount}")
            self._print_receipt(self._preauth_receipts[operation], order, outcome.detail)
        elif outcome.approved and outcome.detail is not None:
            self._paid(order, outcome.detail)
        else:
            self._display.show(ScreenId.PAYMENT_FAILED, "支付失败 Payment failed", outcome.reason)
        return SaleResult(order, outcome, answer)

    def _call(
        self, order: PaymentOrder, request: IntentRequest | None = None
    ) -> tuple[PaymentOutcome, IntentResult | None]:
        """Start the acquiring app through the vendor contract (with ``request``, or the
        one this app builds for ``order``) and read its answer."""
        contract = self._contract
        if request is None:
            try:
                request = contract.build_request(order)
            except ContractViolation as exc:  # the vendor's app has no such operation
                failure = contract.profile.failures[exc.failure]
                reason = f"{failure.code} {failure.text}: {exc}"
                self._bus.publish(IntentRefused(contract.name, failure.code, reason))
                return PaymentOutcome(False, reason, failure=exc.failure), None
        self._bus.publish(
            IntentStarted(
                contract.component,
                request.extras,
                order.method,
                order.operation,
                order.amount_fen,
                order.order_no,
            )
        )
        result = self._launch(request)
        try:
            outcome = contract.parse_result(result)
        except ContractViolation as exc:
            outcome = PaymentOutcome(False, f"unreadable callback from the acquiring app: {exc}")
        note = (
            f"reason: {outcome.reason}"
            if not outcome.approved
            else ", ".join(sorted(result.extras))
        )
        self._bus.publish(
            CallbackReturned(result.result_code or result.broadcast or "", result.extras, note)
        )
        # The slip: on a terminal the acquiring app prints it from its own record.
        if outcome.approved and result.slip is not None and result.slip.detail is not None:
            outcome = attrs.evolve(outcome, detail=result.slip.detail)
        if outcome.approved and outcome.detail is not None and order.operation in _REMEMBERED:
            if len(self._approved) >= _REMEMBERED_ORDERS:
                self._approved.pop(next(iter(self._approved)))
            self._approved[order.order_no] = outcome.detail
        return outcome, result

    def _paid(self, order: PaymentOrder, detail: TransactionDetail) -> None:
        amount = format_yuan(detail.amount_fen)
        self._display.show(ScreenId.PAID, "收款成功 Payment received", f"RMB {amount}")
        self._speaker.say(
            self._announcer.text(detail.channel or order.method, detail.amount_fen),
            language=self._announcer.language,
        )
        receipt = self._qr_receipt if detail.channel else self._receipt
        self._print_receipt(receipt, order, detail)

    def _print_receipt(
        self, receipt: ReceiptTemplate, order: PaymentOrder, detail: TransactionDetail
    ) -> None:
        amount = format_yuan(detail.amount_fen)
        values = {
            "merchant_name": self._merchant_name,
            "merchant_id": detail.merchant_id,
            "terminal_id": detail.terminal_id,
            "masked_pan": detail.masked_pan,
            "card_label": detail.card_label,
            "batch_no": detail.batch_no,
            "stan": detail.stan,
            "auth_code": detail.auth_code,
            "rrn": detail.rrn,
            "datetime": f"{order.timestamp[:4]}/{detail.date[:2]}/{detail.date[2:]} "
            f"{detail.time[:2]}:{detail.time[2:4]}:{detail.time[4:]}",
            "order_no": detail.order_no,
            "amount": amount,
            # Non-empty only when the cardholder must sign (template lines `if: signature`).
            "signature": "1" if detail.cvm == "signature" else "",
            "cvm": _CVM_TEXT.get(detail.cvm, ""),
            "channel_name": detail.card_label if detail.channel else "",
            "transaction_id": mask_transaction_id(detail.transaction_id),
            "orig_stan": detail.orig_stan,
            "orig_rrn": detail.orig_rrn,
            "orig_date": detail.orig_date,
            "orig_order_no": order.orig_order_no,
        }
        # The payment stands whatever the printer does: the queue waits out
        # faults and reprints interrupted copies (see print_queue.py).
        jobs = [
            PrintJob(
                functools.partial(
                    self._render_copy, receipt, copy, values, self._printer.paper_width_chars
                ),
                title=f"{receipt.name} receipt ({copy} copy)",
            )
            for copy in receipt.copies
        ]
        self.print_queue.print(jobs, screen=(f"RMB {amount}",))

    @staticmethod
    def _render_copy(
        receipt: ReceiptTemplate, copy: str, values: Mapping[str, str], width: int, reprint: bool
    ) -> PrintDocument:
        return receipt.render(copy, values, width=width, reprint=reprint)
