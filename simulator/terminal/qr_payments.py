"""QR payments in the acquiring app: scan the customer's code, show a dynamic
QR, refund and void (docs/qr_api.md for the gateway side).

* ``scan`` (proc_cd 660000): the cashier scans the customer's payment code;
  micropay; ``USERPAYING`` is polled every ``qr_poll`` s of clock time up to
  ``qr_confirm`` s, then reversed. A code scanned twice makes one order.
* ``wechat`` / ``alipay`` / ``unionpay_qr`` sale: precreate a dynamic QR,
  show it and print it on a slip, wait for the signed notify (polling as a
  fallback) until ``qr_wait`` s, then close the order (``/v1/close``, never a
  reversal: a payment that lands just before the close makes the gateway
  refuse it with ``ORDER_PAID``, and the sale is approved with that payment).
* ``refund`` / ``void`` of a QR order (its out_trade_no in ``orig_order_no``).

The cashier may cancel while the terminal waits for the code, for the customer
to confirm or for the QR to be paid (:mod:`simulator.terminal.cashier_cancel`):
before a code is scanned nothing is sent; an order already made is queried one
last time (a payment made meanwhile wins) and otherwise reversed (a scanned
code) or closed (a dynamic QR), as at the timeout.

Every step is a committed journal row before the request leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from drivers.clock import POLL_INTERVAL, Clock
from drivers.errors import DriverError
from drivers.printer import PrintDocument
from drivers.scanner import Scanner
from drivers.wire.masking import mask_code
from simulator.events import EventBus
from simulator.terminal.acquiring_events import AppProblem, PaidBeforeClose, ScanIgnored
from simulator.terminal.cashier_cancel import CANCELLED_BY_CASHIER, CashierCancel
from simulator.terminal.config import Timeouts
from simulator.terminal.contract import PaymentOrder, PaymentOutcome, TransactionDetail
from simulator.terminal.display import Display, ScreenId
from simulator.terminal.financial_requests import Merchant
from simulator.terminal.journal import Journal, QrEntry, QrState
from simulator.terminal.notify_receiver import NotifyReceiver
from simulator.terminal.qr_link import QrGatewayUnreachable, QrLink, QrLinkError
from simulator.wire.money import format_yuan
from simulator.wire.receipts import ReceiptTemplate

QR_CHANNELS = ("wechat", "alipay", "unionpay_qr")
CHANNEL_NAMES = {
    "wechat": "微信支付 WeChat Pay",
    "alipay": "支付宝 Alipay",
    "unionpay_qr": "云闪付 UnionPay QR",
}
_CLOSED_STATES = ("CLOSED", "REVOKED", "PAYERROR")
# Queries for the details of a payment the close found (qr_poll s apart) before the
# sale is approved on the close's word alone.
PAID_QUERY_ATTEMPTS = 3


def mask_transaction_id(transaction_id: str) -> str:
    """Receipts show a channel transaction id's first 6 and last 4 characters."""
    if len(transaction_id) <= 10:
        return transaction_id
    return f"{transaction_id[:6]}****{transaction_id[-4:]}"


class QrPayments:
    def __init__(
        self,
        *,
        link: QrLink,
        notifies: NotifyReceiver | None,
        scanner: Scanner,
        journal: Journal,
        display: Display,
        bus: EventBus,
        clock: Clock,
        timeouts: Timeouts,
        merchant: Merchant,
        merchant_name: str,
        print_document: Callable[[PrintDocument], None],
        slip: ReceiptTemplate,
        paper_width: Callable[[], int],
        cashier_cancel: CashierCancel | None = None,
    ) -> None:
        self._cashier = cashier_cancel or CashierCancel(clock, bus)
        self._link = link
        self._notifies = notifies
        self._scanner = scanner
        self._journal = journal
        self._display = display
        self._bus = bus
        self._clock = clock
        self._timeouts = timeouts
        self._merchant = merchant
        self._merchant_name = merchant_name
        self._print = print_document
        self._slip = slip
        self._paper_width = paper_width

    def handles(self, order: PaymentOrder) -> bool:
        if order.method == "scan":
            return order.operation in ("scan_pay", "sale")
        return order.method in QR_CHANNELS and order.operation in ("sale", "refund", "void")

    def run(self, order: PaymentOrder) -> PaymentOutcome:
        try:
            if order.operation == "refund":
                return self._refund(order)
            if order.operation == "void":
                return self._void(order)
            if order.method == "scan":
                return self._scan_sale(order)
            return self._dynamic_sale(order)
        finally:
            self._drop_stray_scans()

    # -- the customer presents a code -----------------------------------------------------

    def _scan_sale(self, order: PaymentOrder) -> PaymentOutcome:
        amount = format_yuan(order.amount_fen)
        self._drop_stray_scans()  # a code scanned before this sale is not for it
        with self._cashier.waiting("the customer's payment code") as window:
            code = self._await_code(amount)
        if window.cancelled:
            return self._cancel(CANCELLED_BY_CASHIER)  # a code read with the CANCEL is dropped
        if code is None:
            return self._cancel(f"no payment code scanned within {self._timeouts.scan:g} s")
        self._bus.add_secret(code, mask_code(code))
        self._display.show(ScreenId.PROCESSING, "处理中 Processing", "请稍候 Please wait")
        entry = self._journal.qr_begin(
            operation="sale",
            method="scan",
            out_trade_no=order.order_no,
            amount_fen=order.amount_fen,
        )
        try:
            answer = self._link.micropay(
                order.order_no, order.amount_fen, code, f"{self._merchant_name} RMB {amount}"
            )
        except QrGatewayUnreachable as exc:
            # The charge may have happened: find out by polling, reverse if unsure.
            self._bus.publish(AppProblem(f"micropay unanswered: {exc}"))
            return self._await_confirmation(order, entry)
        except QrLinkError as exc:
            return self._failed(entry, f"QR gateway refused the request: {exc}")
        result = str(answer.get("result", ""))
        channel = str(answer.get("channel", ""))
        if channel:
            entry = self._journal.qr_update(entry.id, QrState.PENDING, channel=channel)
        if result == "SUCCESS":
            return self._succeeded(order, entry, answer)
        if result == "USERPAYING":
            entry = self._journal.qr_update(entry.id, QrState.USERPAYING)
            return self._await_confirmation(order, entry)
        code_text = str(answer.get("error_code", "FAIL"))
        message = str(answer.get("error_message", "")).strip()
        return self._failed(entry, f"{code_text} {message}".strip())

    def _await_code(self, amount: str) -> str | None:
        """The customer's code; None at the scan timeout or once the cashier cancels."""
        deadline = self._clock.monotonic() + self._timeouts.scan
        while not self._cashier.requested:
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                return None
            self._display.show(
                ScreenId.SCAN_CODE,
                "请扫描付款码 Scan the customer's code",
                f"金额 RMB {amount}",
                f"剩余 {remaining:.0f} s",
            )
            code = self._read_code(min(remaining, 10.0))
            if code is not None and code.strip():
                return code.strip()
        return None

    def _read_code(self, seconds: float) -> str | None:
        """A code scanned within ``seconds``, or None (sooner if the cashier cancels).

        The scanner's wait cannot see a CANCEL, so it is read in short slices
        of clock time with a look at the request between them.
        """
        until = self._clock.monotonic() + seconds
        while not self._cashier.requested:
            remaining = until - self._clock.monotonic()
            if remaining <= 0:
                return None
            code = self._scanner.read_code(min(remaining, POLL_INTERVAL))
            if code is not None:
                return code
        return None

    def _await_confirmation(self, order: PaymentOrder, entry: QrEntry) -> PaymentOutcome:
        """USERPAYING: poll every qr_poll s until qr_confirm s (or CANCEL), then reverse."""
        with self._cashier.waiting("the customer to confirm the payment"):
            settled = self._confirmation(order, entry)
        if isinstance(settled, PaymentOutcome):
            return settled
        return self._reverse_unpaid(entry, settled)

    def _confirmation(self, order: PaymentOrder, entry: QrEntry) -> PaymentOutcome | str:
        """The outcome once the order settles, else why it must be reversed."""
        deadline = self._clock.monotonic() + self._timeouts.qr_confirm
        cashier = self._cashier
        while True:
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                return f"the customer did not confirm within {self._timeouts.qr_confirm:g} s"
            self._display.show(
                ScreenId.WAITING_PAYMENT,
                "等待顾客确认 Waiting for the customer",
                f"金额 RMB {format_yuan(order.amount_fen)}",
                f"剩余 {remaining:.0f} s",
            )
            self._clock.wait_until(
                lambda: cashier.requested, min(self._timeouts.qr_poll, remaining)
            )
            # After a CANCEL too: a customer who confirmed meanwhile has paid.
            outcome = self._poll(order, entry)
            if outcome is not None:
                return outcome
            if cashier.requested:
                return CANCELLED_BY_CASHIER

    def _poll(self, order: PaymentOrder, entry: QrEntry) -> PaymentOutcome | None:
        """One order query: the outcome if the order settled, else None."""
        try:
            state = self._link.query(order.order_no)
        except QrLinkError as exc:
            self._bus.publish(AppProblem(f"order query failed: {exc}"))
            return None
        trade_state = str(state.get("trade_state", ""))
        if trade_state == "SUCCESS":
            return self._succeeded(order, entry, state)
        if trade_state in _CLOSED_STATES:
            self._journal.qr_update(
                entry.id,
                QrState.CLOSED if trade_state != "REVOKED" else QrState.REVOKED,
                reason=f"customer cancelled ({trade_state})",
            )
            return self._cancel(f"the customer cancelled the payment ({trade_state})")
        return None

    def _reverse_unpaid(self, entry: QrEntry, why: str) -> PaymentOutcome:
        self._display.show(ScreenId.REVERSING, "撤销中 Reversing", f"订单 {entry.out_trade_no}")
        try:
            self._link.reverse(entry.out_trade_no)
        except QrLinkError as exc:
            self._journal.qr_update(entry.id, QrState.USERPAYING, reason=f"{why}; reverse: {exc}")
            return self._cancel(f"{why}; the reversal failed: {exc}")
        self._journal.qr_update(entry.id, QrState.REVOKED, reason=f"{why}: reversed")
        return self._cancel(f"{why}: reversed")

    # -- the merchant presents a dynamic QR ----------------------------------------------------

    def _dynamic_sale(self, order: PaymentOrder) -> PaymentOutcome:
        amount = format_yuan(order.amount_fen)
        if self._notifies is None:
            notify_url = ""
        else:
            self._notifies.expect(order.order_no)
            notify_url = self._notifies.url
        entry = self._journal.qr_begin(
            operation="sale",
            method=order.method,
            channel=order.method,
            out_trade_no=order.order_no,
            amount_fen=order.amount_fen,
        )
        try:
            try:
                answer = self._link.precreate(
                    order.order_no,
                    order.amount_fen,
                    order.method,
                    notify_url,
                    order.print_info or None,
                )
            except QrLinkError as exc:
                return self._failed(entry, f"cannot create the QR: {exc}")
            payload = str(answer.get("qr_payload", ""))
            if answer.get("result", "SUCCESS") != "SUCCESS" or not payload:
                reason = f"{answer.get('error_code', 'FAIL')} {answer.get('error_message', '')}"
                return self._failed(entry, reason.strip())
            entry = self._journal.qr_update(entry.id, QrState.NOTPAY)
            self._display.show(
                ScreenId.SHOW_QR,
                "请顾客扫码支付 Customer: scan to pay",
                CHANNEL_NAMES[order.method],
                f"金额 RMB {amount}",
                payload,
            )
            with self._cashier.waiting("the customer to pay the QR"):
                self._print_slip(order, payload)
                settled = self._await_payment(order, entry)
            if isinstance(settled, PaymentOutcome):
                return settled
            return self._close_unpaid(order, entry, settled)
        finally:
            if self._notifies is not None:
                self._notifies.done(order.order_no)

    def _await_payment(self, order: PaymentOrder, entry: QrEntry) -> PaymentOutcome | str:
        """The outcome once the order settles, else why it must be closed (unpaid at
        ``qr_wait`` s, or the cashier cancelled and the gateway says it is unpaid)."""
        notifies = self._notifies
        cashier = self._cashier
        deadline = self._clock.monotonic() + self._timeouts.qr_wait
        while True:
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                return f"the QR was not paid within {self._timeouts.qr_wait:g} s"
            if notifies is None:
                self._clock.wait_until(
                    lambda: cashier.requested, min(self._timeouts.qr_poll, remaining)
                )
            elif self._clock.wait_until(
                lambda: cashier.requested or notifies.paid(order.order_no) is not None,
                min(self._timeouts.qr_poll, remaining),
            ):
                notify = notifies.paid(order.order_no)
                if notify is not None and notify.get("amount_fen") == order.amount_fen:
                    return self._succeeded(order, entry, notify)  # paid beats a CANCEL
                if notify is not None:
                    self._bus.publish(
                        AppProblem(f"notify for {order.order_no} has the wrong amount")
                    )
            # The fallback when a notify is lost; after a CANCEL, the gateway's last word.
            outcome = self._poll(order, entry)
            if outcome is not None:
                return outcome
            if cashier.requested:
                return CANCELLED_BY_CASHIER

    def _close_unpaid(self, order: PaymentOrder, entry: QrEntry, why: str) -> PaymentOutcome:
        """Close a dynamic QR's order that the last query found unpaid.

        A close, unlike a reversal, never returns money: if the customer paid since
        that query the gateway refuses it (``ORDER_PAID``) and the payment is kept.
        """
        self._display.show(
            ScreenId.PROCESSING, "关单中 Closing the order", f"订单 {entry.out_trade_no}"
        )
        try:
            answer = self._link.close(entry.out_trade_no)
        except QrLinkError as exc:
            self._bus.publish(AppProblem(f"close failed: {exc}"))
            return self._settle_unclosed(order, entry, f"{why}; the close failed: {exc}")
        if answer.get("result") == "SUCCESS":
            self._journal.qr_update(entry.id, QrState.CLOSED, reason=f"{why}: closed")
            return self._cancel(f"{why}: closed")
        code = str(answer.get("error_code", "FAIL"))
        if code == "ORDER_PAID":
            return self._paid_before_the_close(order, entry)
        return self._settle_unclosed(order, entry, f"{why}; the close was refused: {code}")

    def _paid_before_the_close(self, order: PaymentOrder, entry: QrEntry) -> PaymentOutcome:
        """The close found the order paid: query for the payment and approve the sale."""
        self._bus.publish(PaidBeforeClose(order.order_no))
        for attempt in range(PAID_QUERY_ATTEMPTS):
            if attempt:
                self._clock.sleep(self._timeouts.qr_poll)
            outcome = self._poll(order, entry)
            if outcome is not None:
                return outcome
        # The gateway said paid and no query answered since: approve on its word (the
        # transaction id is missing from the receipt, the money is not lost).
        return self._succeeded(order, entry, {"channel": entry.channel})

    def _settle_unclosed(self, order: PaymentOrder, entry: QrEntry, why: str) -> PaymentOutcome:
        """The order may still be open (or paid): the gateway's state decides."""
        outcome = self._poll(order, entry)
        if outcome is not None:
            return outcome
        self._journal.qr_update(entry.id, QrState.NOTPAY, reason=why)
        return self._cancel(why)

    def _print_slip(self, order: PaymentOrder, payload: str) -> None:
        values = {
            "merchant_name": self._merchant_name,
            "merchant_id": self._merchant.merchant_id,
            "terminal_id": self._merchant.terminal_id,
            "channel_name": CHANNEL_NAMES[order.method],
            "order_no": order.order_no,
            "amount": format_yuan(order.amount_fen),
            "qr_payload": payload,
        }
        copy = next(iter(self._slip.copies))
        try:
            self._print(self._slip.render(copy, values, width=self._paper_width()))
        except DriverError as exc:  # the QR is on the screen too: the sale goes on
            self._bus.publish(AppProblem(f"QR slip not printed: {exc}"))

    # -- refund and void ------------------------------------------------------------------------

    def _refund(self, order: PaymentOrder) -> PaymentOutcome:
        original = order.orig_order_no
        entry = self._journal.qr_begin(
            operation="refund",
            method=order.method,
            out_trade_no=original,
            out_refund_no=order.order_no,
            amount_fen=order.amount_fen,
        )
        self._display.show(ScreenId.PROCESSING, "退款中 Refunding", f"订单 {original}")
        try:
            answer = self._link.refund(original, order.order_no, order.amount_fen)
        except QrLinkError as exc:
            return self._failed(entry, f"refund not accepted: {exc}")
        if answer.get("result") != "SUCCESS":
            reason = f"{answer.get('error_code', 'FAIL')} {answer.get('error_message', '')}"
            return self._failed(entry, reason.strip())
        return self._succeeded(order, entry, answer, state=QrState.REFUND)

    def _void(self, order: PaymentOrder) -> PaymentOutcome:
        original = order.orig_order_no
        entry = self._journal.qr_begin(
            operation="void",
            method=order.method,
            out_trade_no=original,
            amount_fen=order.amount_fen,
        )
        try:
            self._link.reverse(original)
        except QrLinkError as exc:
            return self._failed(entry, f"void not accepted: {exc}")
        for sale in self._journal.qr_entries():
            if sale.operation == "sale" and sale.out_trade_no == original:
                self._journal.qr_update(sale.id, QrState.REVOKED, reason="voided")
        return self._succeeded(order, entry, {}, state=QrState.REVOKED)

    # -- endings ---------------------------------------------------------------------------------

    def _succeeded(
        self,
        order: PaymentOrder,
        entry: QrEntry,
        answer: Mapping[str, Any],
        state: QrState = QrState.SUCCESS,
    ) -> PaymentOutcome:
        channel = str(answer.get("channel") or entry.channel or order.method)
        transaction_id = str(answer.get("transaction_id") or answer.get("refund_id") or "")
        entry = self._journal.qr_update(
            entry.id, state, channel=channel, transaction_id=transaction_id
        )
        now = self._clock.now()
        title = "退款成功 Refunded" if state is QrState.REFUND else "交易成功 Approved"
        self._display.show(ScreenId.APPROVED, title, f"金额 RMB {format_yuan(order.amount_fen)}")
        detail = TransactionDetail(
            merchant_id=self._merchant.merchant_id,
            terminal_id=self._merchant.terminal_id,
            batch_no=self._journal.batch_no,
            stan=f"{entry.id:06d}",
            order_no=order.order_no,
            rrn="",
            auth_code="",
            amount_fen=order.amount_fen,
            masked_pan="",
            date=now.strftime("%m%d"),
            time=now.strftime("%H%M%S"),
            card_label=CHANNEL_NAMES.get(channel, channel),
            response_code="00",
            cvm="none",
            channel=channel,
            transaction_id=transaction_id,
        )
        return PaymentOutcome(True, detail=detail)

    def _failed(self, entry: QrEntry, reason: str) -> PaymentOutcome:
        self._journal.qr_update(entry.id, QrState.FAILED, reason=reason)
        return self._cancel(reason)

    def _cancel(self, reason: str) -> PaymentOutcome:
        self._display.show(ScreenId.CANCELLED, "交易取消 Cancelled", reason)
        return PaymentOutcome(False, reason)

    def _drop_stray_scans(self) -> None:
        """Codes scanned while nothing waits for one (a doubled scan) are ignored."""
        while True:
            code = self._scanner.take_scan()
            if code is None:
                return
            self._bus.add_secret(code, mask_code(code))
            self._bus.publish(ScanIgnored(mask_code(code)))
