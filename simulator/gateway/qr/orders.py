"""QR orders: the state machine over their rows in the gateway ledger.

The rows and their SQL are :mod:`simulator.gateway.ledger.qr`. Every change is
one ledger transaction that reads the row, decides and writes, so a repeated
request finds what the first one did: a paid order is never charged twice and
never lost.

States (``trade_state``)::

    micropay  -> SUCCESS | USERPAYING | PAYERROR (magic amount)
    precreate -> NOTPAY
    USERPAYING -- customer confirms --> SUCCESS
    USERPAYING -- customer cancels  --> PAYERROR
    NOTPAY     -- customer pays QR  --> SUCCESS
    NOTPAY     -- expires_at passes --> CLOSED
    NOTPAY | USERPAYING | PAYERROR -- close --> CLOSED (a paid order is refused: ORDER_PAID)
    SUCCESS | REFUND -- refund      --> REFUND (refunded_fen grows)
    anything unpaid or paid today -- reverse --> REVOKED (money returned)

Only the charged states are money: SUCCESS and REFUND (amount - refunded).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import attrs

from drivers.clock import Clock
from drivers.wire.masking import mask_code
from simulator.gateway.ledger import Ledger
from simulator.gateway.ledger.qr import PAID_STATES, QrBook, QrOrder
from simulator.gateway.magic import MagicAmounts
from simulator.gateway.qr.channels import Merchant, Merchants, QrChannel, QrChannels
from simulator.wire import emvco

__all__ = ["CURRENCY", "PAID_STATES", "QrOrder", "QrService", "Reply", "mask_code", "merchant_of"]

CURRENCY = "CNY"

_MESSAGES = {
    "AUTH_CODE_INVALID": "the payment code is not a WeChat, Alipay or UnionPay code",
    "OUT_TRADE_NO_USED": "this out_trade_no was used with a different order",
    "OUT_REFUND_NO_USED": "this out_refund_no was used with a different refund",
    "ORDER_PAID": "the order is already paid",
    "ORDER_CLOSED": "the order is closed",
    "ORDER_REVOKED": "the order was reversed",
    "ORDER_NOT_PAID": "the order is not paid",
    "REFUND_EXCEEDED": "the refund exceeds what is left of the payment",
    "REVERSE_EXPIRED": "a paid order can only be reversed the day it was paid; refund it",
    "USERCANCEL": "the customer cancelled the payment",
    "WALLET_MISMATCH": "this wallet cannot pay this channel's QR code",
    "AMOUNT_MISMATCH": "the QR payload's amount differs from the order's",
    "NOTIFY_NONE": "the order is not paid or has no notify_url",
}


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


@attrs.frozen
class Reply:
    """An HTTP answer: status, JSON body and a paid order to notify about (if any)."""

    status: int
    body: dict[str, Any]
    paid: QrOrder | None = None


def not_found() -> Reply:
    return Reply(404, {"error_code": "ORDER_NOT_EXIST", "message": "no such order"})


def _fail(code: str, message: str | None = None, **extra: Any) -> Reply:
    return Reply(
        200,
        {
            "result": "FAIL",
            **extra,
            "error_code": code,
            "error_message": message or _MESSAGES[code],
        },
    )


class QrService:
    """The business side of the QR API; :mod:`.http` validates and signs."""

    def __init__(
        self,
        ledger: Ledger,
        channels: QrChannels,
        merchants: Merchants,
        magic: MagicAmounts,
        clock: Clock,
    ) -> None:
        self.ledger = ledger
        self._orders = ledger.qr_orders
        self.channels = channels
        self.merchants = merchants
        self.magic = magic
        self._clock = clock

    # -- queries ---------------------------------------------------------------

    def find(self, merchant_id: str, out_trade_no: str) -> QrOrder | None:
        return self._orders.find(merchant_id, out_trade_no)

    def find_any(self, out_trade_no: str) -> list[QrOrder]:
        return self._orders.find_any(out_trade_no)

    def orders(self) -> list[QrOrder]:
        return self._orders.orders()

    def refunds(self) -> list[tuple[str, str, str, int, str]]:
        """(merchant_id, out_refund_no, out_trade_no, refund_fen, refund_id) in order."""
        return [
            (r.merchant_id, r.out_refund_no, r.out_trade_no, r.refund_fen, r.refund_id)
            for r in self._orders.refunds()
        ]

    def snapshot(self) -> tuple[tuple[Any, ...], ...]:
        """Every QR order and refund, for "nothing changed" checks (the notify
        bookkeeping, which the notifier updates in the background, left out)."""
        orders = (
            attrs.astuple(attrs.evolve(order, notify_attempts=0, notified_at=None))
            for order in self.orders()
        )
        return (*orders, *self.refunds())

    # -- the calls -------------------------------------------------------------

    def micropay(
        self,
        *,
        merchant_id: str,
        terminal_id: str,
        out_trade_no: str,
        amount_fen: int,
        auth_code: str,
        description: str,
        notify_url: str | None = None,
    ) -> Reply:
        channel = self.channels.route(auth_code)
        if channel is None:
            return _fail("AUTH_CODE_INVALID", out_trade_no=out_trade_no)
        digest = _digest(auth_code)
        now = self.ledger.now_text()
        with self._orders.transaction() as book:
            order = book.find(merchant_id, out_trade_no)
            if order is not None:
                if (
                    order.kind != "micropay"
                    or order.amount_fen != amount_fen
                    or order.code_digest != digest
                ):
                    return _fail("OUT_TRADE_NO_USED", out_trade_no=out_trade_no)
                return self._micropay_answer(order)
            state, error = "SUCCESS", None
            magic = self._magic_error(amount_fen)
            if magic is not None:
                state, error = "PAYERROR", magic
            elif amount_fen > channel.password_free_limit_fen:
                state = "USERPAYING"
            order_id = book.add_micropay(
                merchant_id=merchant_id,
                out_trade_no=out_trade_no,
                terminal_id=terminal_id,
                channel=channel.name,
                amount_fen=amount_fen,
                currency=CURRENCY,
                masked_code=mask_code(auth_code),
                code_digest=digest,
                description=description,
                trade_state=state,
                error_code=error,
                notify_url=notify_url,
                now=now,
            )
            if state == "SUCCESS":
                _mark_paid(book, order_id, channel, now)
            order = book.get(order_id)
        reply = self._micropay_answer(order)
        return attrs.evolve(reply, paid=order) if state == "SUCCESS" else reply

    def query(self, merchant_id: str, out_trade_no: str) -> Reply:
        with self._orders.transaction() as book:
            order = book.find(merchant_id, out_trade_no)
            if order is None:
                return not_found()
            order = self._expire(book, order)
        return Reply(200, order.query_view())

    def reverse(self, merchant_id: str, out_trade_no: str) -> Reply:
        now = self.ledger.now_text()
        with self._orders.transaction() as book:
            order = book.find(merchant_id, out_trade_no)
            if order is None:
                return not_found()
            if order.trade_state in PAID_STATES:
                assert order.paid_at is not None
                if order.paid_at[:10] != now[:10]:
                    return _fail("REVERSE_EXPIRED", out_trade_no=out_trade_no)
            if order.trade_state != "REVOKED":
                book.set_state(order.id, "REVOKED", now)
        return Reply(
            200, {"result": "SUCCESS", "out_trade_no": out_trade_no, "trade_state": "REVOKED"}
        )

    def close(self, merchant_id: str, out_trade_no: str) -> Reply:
        """Close an unpaid order so it can no longer be paid (WeChat's ``closeorder``,
        Alipay's ``alipay.trade.close``). Unlike :meth:`reverse` it never returns money:
        a paid order is refused (``ORDER_PAID``) and left as it is, for the merchant to
        query and keep."""
        now = self.ledger.now_text()
        extra = {"out_trade_no": out_trade_no}
        with self._orders.transaction() as book:
            order = book.find(merchant_id, out_trade_no)
            if order is None:
                return not_found()
            order = self._expire(book, order)
            if order.trade_state in PAID_STATES:
                return _fail("ORDER_PAID", **extra, trade_state=order.trade_state)
            if order.trade_state == "REVOKED":
                return _fail("ORDER_REVOKED", **extra, trade_state=order.trade_state)
            if order.trade_state != "CLOSED":
                book.set_state(order.id, "CLOSED", now)
        return Reply(200, {"result": "SUCCESS", **extra, "trade_state": "CLOSED"})

    def refund(
        self, merchant_id: str, out_trade_no: str, out_refund_no: str, refund_fen: int
    ) -> Reply:
        now = self.ledger.now_text()
        extra = {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no}
        with self._orders.transaction() as book:
            order = book.find(merchant_id, out_trade_no)
            if order is None:
                return not_found()
            existing = book.find_refund(merchant_id, out_refund_no)
            if existing is not None:
                if (existing.out_trade_no, existing.refund_fen) != (out_trade_no, refund_fen):
                    return _fail("OUT_REFUND_NO_USED", **extra)
                refund_id = existing.refund_id
            else:
                if order.trade_state not in PAID_STATES:
                    return _fail("ORDER_NOT_PAID", **extra)
                if refund_fen > order.amount_fen - order.refunded_fen:
                    return _fail("REFUND_EXCEEDED", **extra)
                refund_row = book.add_refund(order, out_refund_no, refund_fen, now)
                refund_id = f"50{now[:10].replace('-', '')}{refund_row:010d}"
                book.set_refund_id(refund_row, refund_id)
            order = book.get(order.id)
        return Reply(
            200,
            {
                "result": "SUCCESS",
                **extra,
                "refund_id": refund_id,
                "refund_fen": refund_fen,
                "refunded_fen": order.refunded_fen,
                "trade_state": order.trade_state,
            },
        )

    def precreate(
        self,
        *,
        merchant: Merchant,
        terminal_id: str,
        out_trade_no: str,
        amount_fen: int,
        channel: QrChannel,
        notify_url: str,
        issuance: str | None,
    ) -> Reply:
        account = channel.account(issuance)
        assert account is not None  # the caller checked the issuance mode
        now = self._clock.now()
        expires_at = (now + timedelta(seconds=channel.qr_expires_seconds)).isoformat(
            timespec="seconds"
        )
        with self._orders.transaction() as book:
            order = book.find(merchant.merchant_id, out_trade_no)
            if order is None:
                payload = emvco.build(
                    merchant_account=_merchant_account(account.tag, account.guid, merchant),
                    mcc=self.channels.mcc,
                    merchant_name=merchant.name,
                    merchant_city=merchant.city,
                    amount_fen=amount_fen,
                    bill_number=out_trade_no,
                    terminal_label=terminal_id,
                )
                order = book.get(
                    book.add_precreate(
                        merchant_id=merchant.merchant_id,
                        out_trade_no=out_trade_no,
                        terminal_id=terminal_id,
                        channel=channel.name,
                        amount_fen=amount_fen,
                        currency=CURRENCY,
                        notify_url=notify_url,
                        issuance=issuance,
                        qr_payload=payload,
                        expires_at=expires_at,
                        now=self.ledger.now_text(),
                    )
                )
            elif (order.kind, order.channel, order.amount_fen, order.issuance) != (
                "precreate",
                channel.name,
                amount_fen,
                issuance,
            ):
                return _fail("OUT_TRADE_NO_USED", out_trade_no=out_trade_no)
        return Reply(
            200,
            {
                "result": "SUCCESS",
                "out_trade_no": out_trade_no,
                "channel": order.channel,
                "amount_fen": order.amount_fen,
                "qr_payload": order.qr_payload,
                "expires_at": order.expires_at,
                "trade_state": order.trade_state,
            },
        )

    # -- the simulated customers --------------------------------------------------

    def customer_confirm(self, order: QrOrder) -> Reply:
        now = self.ledger.now_text()
        with self._orders.transaction() as book:
            current = book.get(order.id)
            if current.trade_state == "USERPAYING":
                _mark_paid(book, current.id, self.channels[current.channel], now)
                paid = book.get(current.id)
                return Reply(200, _sim_answer(paid), paid=paid)
        return self._sim_state_answer(current)

    def customer_cancel(self, order: QrOrder) -> Reply:
        now = self.ledger.now_text()
        with self._orders.transaction() as book:
            current = book.get(order.id)
            if current.trade_state == "USERPAYING":
                book.set_state(current.id, "PAYERROR", now, error_code="USERCANCEL")
                return Reply(200, _sim_answer(book.get(current.id)))
        return self._sim_state_answer(current)

    def customer_pay_qr(self, order: QrOrder, qr: emvco.MerchantQr, wallet: str) -> Reply:
        now = self.ledger.now_text()
        extra = {"out_trade_no": order.out_trade_no}
        with self._orders.transaction() as book:
            current = self._expire(book, book.get(order.id))
            if current.kind != "precreate":
                return _fail("ORDER_NOT_PAID", "this order is not a dynamic QR order", **extra)
            if wallet != current.channel:
                return _fail("WALLET_MISMATCH", **extra)
            if qr.amount_fen != current.amount_fen:
                return _fail("AMOUNT_MISMATCH", **extra)
            if current.trade_state in PAID_STATES:
                return _fail("ORDER_PAID", **extra)
            if current.trade_state != "NOTPAY":
                code = "ORDER_REVOKED" if current.trade_state == "REVOKED" else "ORDER_CLOSED"
                return _fail(code, **extra)
            magic = self._magic_error(current.amount_fen)
            if magic is not None:
                return _fail(magic, self._magic_message(magic), **extra)
            book.set_wallet(current.id, wallet)
            _mark_paid(book, current.id, self.channels[current.channel], now)
            paid = book.get(current.id)
        return Reply(200, _sim_answer(paid), paid=paid)

    def notify_replay(self, order: QrOrder) -> Reply:
        current = self.find(order.merchant_id, order.out_trade_no) or order
        if current.trade_state not in PAID_STATES or not current.notify_url:
            return _fail("NOTIFY_NONE", out_trade_no=order.out_trade_no)
        return Reply(
            200,
            {"result": "SUCCESS", "out_trade_no": order.out_trade_no, "notify_id": order.notify_id},
        )

    def record_notify(self, order_id: int, *, delivered: bool) -> None:
        """Count one notify attempt (and note the first delivery)."""
        self._orders.count_notify(order_id, delivered=delivered, now=self.ledger.now_text())

    # -- internals ---------------------------------------------------------------

    def _magic_error(self, amount_fen: int) -> str | None:
        outcome = self.magic.outcome_for(amount_fen)
        if outcome is None or outcome.response_code is None:
            return None
        error = self.channels.magic_response_codes.get(outcome.response_code)
        return None if error is None else error.error_code

    def _magic_message(self, code: str) -> str:
        for error in self.channels.magic_response_codes.values():
            if error.error_code == code:
                return error.message
        return code

    def _micropay_answer(self, order: QrOrder) -> Reply:
        base: dict[str, Any] = {
            "channel": order.channel,
            "out_trade_no": order.out_trade_no,
            "amount_fen": order.amount_fen,
        }
        state = order.trade_state
        if state in PAID_STATES:
            return Reply(
                200,
                {
                    "result": "SUCCESS",
                    **base,
                    "transaction_id": order.transaction_id,
                    "paid_at": order.paid_at,
                },
            )
        if state == "USERPAYING":
            return Reply(200, {"result": "USERPAYING", **base})
        if state == "PAYERROR":
            code = order.error_code or "PAYERROR"
            return _fail(code, _MESSAGES.get(code) or self._magic_message(code), **base)
        code = "ORDER_REVOKED" if state == "REVOKED" else "ORDER_CLOSED"
        return _fail(code, **base)

    def _sim_state_answer(self, order: QrOrder) -> Reply:
        if order.trade_state in PAID_STATES:
            return Reply(200, _sim_answer(order))
        if order.trade_state == "USERPAYING":  # pragma: no cover - handled by the callers
            return Reply(200, _sim_answer(order))
        codes = {"REVOKED": "ORDER_REVOKED", "NOTPAY": "ORDER_NOT_PAID"}
        return _fail(
            codes.get(order.trade_state, "ORDER_CLOSED"),
            out_trade_no=order.out_trade_no,
            trade_state=order.trade_state,
        )

    def _expire(self, book: QrBook, order: QrOrder) -> QrOrder:
        if order.trade_state != "NOTPAY" or order.expires_at is None:
            return order
        if self._clock.now() < datetime.fromisoformat(order.expires_at):
            return order
        book.set_state(order.id, "CLOSED", self.ledger.now_text())
        return book.get(order.id)


def _mark_paid(book: QrBook, order_id: int, channel: QrChannel, now: str) -> None:
    """SUCCESS, under a transaction id in the channel's style (prefix, date, row)."""
    transaction_id = f"{channel.transaction_id_prefix}{now[:10].replace('-', '')}{order_id:010d}"
    book.mark_paid(order_id, transaction_id, now)


def _merchant_account(tag: str, guid: str, merchant: Merchant) -> tuple[str, str | dict[str, str]]:
    if tag == emvco.UNIONPAY_ID:  # centrally issued UnionPay: one primitive value
        return tag, f"{guid}{merchant.acquirer_iin}{merchant.merchant_id}"
    return tag, {"00": guid, "01": merchant.acquirer_iin, "02": merchant.merchant_id}


def merchant_of(qr: emvco.MerchantQr) -> str | None:
    """The merchant id in a payload's merchant account (either UnionPay mode)."""
    central = qr.text(emvco.UNIONPAY_ID)
    if central is not None:
        return central[len(emvco.UNIONPAY_RID) + 8 :] or None
    for tag in sorted(qr.merchant_accounts()):
        template = qr.template(tag)
        if "02" in template:
            return template["02"]
    return None


def _sim_answer(order: QrOrder) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "result": "SUCCESS",
        "out_trade_no": order.out_trade_no,
        "trade_state": order.trade_state,
        "channel": order.channel,
        "amount_fen": order.amount_fen,
    }
    if order.transaction_id is not None:
        answer["transaction_id"] = order.transaction_id
        answer["paid_at"] = order.paid_at
    return answer
