"""The merchant's cashier app: takes the amount, hands the payment to the
acquiring app through the vendor contract, and on the callback announces the
payment and prints the receipts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from drivers.clock import Clock
from drivers.errors import PrinterError
from drivers.printer import Printer
from drivers.speaker import Speaker
from simulator.events import EventBus
from simulator.terminal.amounts import format_yuan, spell_zh
from simulator.terminal.contract import (
    ContractViolation,
    IntentContract,
    IntentResult,
    PaymentOrder,
    PaymentOutcome,
    TransactionDetail,
)
from simulator.terminal.display import Display, ScreenId
from simulator.terminal.receipts import ReceiptTemplate

# Starts the acquiring app with the Intent extras and returns its result; on a
# device this is startActivityForResult, here the app-to-app bridge.
Launcher = Callable[[Mapping[str, Any]], IntentResult]

# What the receipt says about cardholder verification (never the PIN itself).
_CVM_TEXT = {
    "pin": "密码验证 PIN VERIFIED",
    "online_pin": "联机密码验证 ONLINE PIN",
    "signature": "",
    "none": "免密免签 NO CVM",
}


@attrs.frozen
class SaleResult:
    order: PaymentOrder
    outcome: PaymentOutcome

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
    ) -> None:
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

    def sale(self, amount_fen: int, method: str = "card") -> SaleResult:
        if amount_fen <= 0:
            raise ValueError("a sale needs an amount above zero")
        now = self._clock.now()
        self._orders += 1
        order = PaymentOrder(
            method=method,
            operation="sale",
            amount_fen=amount_fen,
            order_no=f"{now:%Y%m%d%H%M%S}{self._orders:04d}",
            timestamp=f"{now:%Y%m%d%H%M%S}",
        )
        extras = self._contract.build_request(order)
        self._bus.publish(
            "cashier_app",
            "intent",
            f"start {self._contract.component}: {method} sale RMB {format_yuan(amount_fen)}"
            f" order {order.order_no}",
            component=self._contract.component,
            extras=extras,
        )
        result = self._launch(extras)
        self._bus.publish(
            "cashier_app",
            "callback",
            f"{result.result_code} {self._callback_summary(result)}",
            result_code=result.result_code,
            extras=result.extras,
        )
        try:
            outcome = self._contract.parse_result(result)
        except ContractViolation as exc:
            outcome = PaymentOutcome(False, f"unreadable callback from the acquiring app: {exc}")
        if outcome.approved and outcome.detail is not None:
            self._paid(order, outcome.detail)
        else:
            self._display.show(ScreenId.PAYMENT_FAILED, "支付失败 Payment failed", outcome.reason)
        return SaleResult(order, outcome)

    def _paid(self, order: PaymentOrder, detail: TransactionDetail) -> None:
        amount = format_yuan(detail.amount_fen)
        self._display.show(ScreenId.PAID, "收款成功 Payment received", f"RMB {amount}")
        template = self._contract.announcement(order.method)
        self._speaker.say(template.format(amount_zh=spell_zh(detail.amount_fen), amount=amount))
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
        }
        for copy in self._receipt.copies:
            document = self._receipt.render(copy, values, width=self._printer.paper_width_chars)
            try:
                self._printer.print_document(document)
            except PrinterError as exc:
                # The payment stands; only the paper is missing.
                self._bus.publish("cashier_app", "error", f"receipt not printed: {exc}")
                self._display.show(
                    ScreenId.PAID,
                    "收款成功 Payment received",
                    f"RMB {amount}",
                    f"打印失败 Print failed: {exc}",
                )
                return

    def _callback_summary(self, result: IntentResult) -> str:
        reason = result.extras.get(self._contract.reason_key)
        return f"reason: {reason}" if reason is not None else ", ".join(sorted(result.extras))
