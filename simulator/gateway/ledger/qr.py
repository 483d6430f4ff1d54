"""QR orders and refunds in the ledger: the rows and the SQL that reads and writes them.

One row per (merchant_id, out_trade_no) in ``qr_transactions``; one per
(merchant_id, out_refund_no) in ``qr_refunds``. The state machine that decides
what to write is :mod:`simulator.gateway.qr.orders`; it reads, decides and
writes inside one :meth:`QrOrders.transaction`, so a repeated request finds
what the first one did. Only the masked payment code and its SHA-256 are
stored.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import attrs

from simulator.storage import SqliteStore, Table

PAID_STATES = frozenset({"SUCCESS", "REFUND"})


@attrs.frozen
class QrOrder:
    id: int
    merchant_id: str
    out_trade_no: str
    terminal_id: str
    kind: str  # micropay (a scanned code) / precreate (a dynamic QR)
    channel: str
    amount_fen: int
    currency: str
    masked_code: str | None
    code_digest: str | None
    description: str
    trade_state: str
    error_code: str | None
    transaction_id: str | None
    paid_at: str | None
    refunded_fen: int
    notify_url: str | None
    issuance: str | None
    qr_payload: str | None
    expires_at: str | None
    wallet: str | None
    notify_attempts: int
    notified_at: str | None
    created_at: str
    updated_at: str

    @property
    def charged_fen(self) -> int:
        """Money this order holds now (paid minus refunded; 0 if unpaid or reversed)."""
        return self.amount_fen - self.refunded_fen if self.trade_state in PAID_STATES else 0

    @property
    def notify_id(self) -> str:
        return f"N{self.id:012d}"

    def query_view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "out_trade_no": self.out_trade_no,
            "trade_state": self.trade_state,
            "channel": self.channel,
            "amount_fen": self.amount_fen,
            "transaction_id": self.transaction_id,
            "paid_at": self.paid_at,
            "refunded_fen": self.refunded_fen,
        }
        if self.error_code is not None:
            view["error_code"] = self.error_code
        return view

    def notify_body(self) -> dict[str, Any]:
        return {
            "event": "TRANSACTION.SUCCESS",
            "merchant_id": self.merchant_id,
            "out_trade_no": self.out_trade_no,
            "transaction_id": self.transaction_id,
            "channel": self.channel,
            "amount_fen": self.amount_fen,
            "paid_at": self.paid_at,
            "notify_id": self.notify_id,
        }


@attrs.frozen
class QrRefund:
    id: int
    merchant_id: str
    out_refund_no: str
    out_trade_no: str
    refund_fen: int
    refund_id: str
    created_at: str


ORDERS = Table(QrOrder, "qr_transactions")
REFUNDS = Table(QrRefund, "qr_refunds")
_BY_KEY = "merchant_id = ? AND out_trade_no = ?"


class QrBook:
    """The QR tables inside one ledger transaction: what is read, decided and
    written in it is committed together (or not at all)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def find(self, merchant_id: str, out_trade_no: str) -> QrOrder | None:
        """The merchant's order with this number, if any."""
        return ORDERS.first(self._db, _BY_KEY, (merchant_id, out_trade_no))

    def get(self, order_id: int) -> QrOrder:
        """The order with this row id.

        Raises:
            KeyError: there is none.
        """
        return ORDERS.get(self._db, order_id)

    def add_micropay(
        self,
        *,
        merchant_id: str,
        out_trade_no: str,
        terminal_id: str,
        channel: str,
        amount_fen: int,
        currency: str,
        masked_code: str,
        code_digest: str,
        description: str,
        trade_state: str,
        error_code: str | None,
        notify_url: str | None,
        now: str,
    ) -> int:
        """A new order paid by a scanned code; returns its row id."""
        cursor = self._db.execute(
            "INSERT INTO qr_transactions (merchant_id, out_trade_no, terminal_id, kind, "
            "channel, amount_fen, currency, masked_code, code_digest, description, "
            "trade_state, error_code, notify_url, created_at, updated_at) "
            "VALUES (?, ?, ?, 'micropay', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                merchant_id,
                out_trade_no,
                terminal_id,
                channel,
                amount_fen,
                currency,
                masked_code,
                code_digest,
                description,
                trade_state,
                error_code,
                notify_url,
                now,
                now,
            ),
        )
        return int(cursor.lastrowid or 0)

    def add_precreate(
        self,
        *,
        merchant_id: str,
        out_trade_no: str,
        terminal_id: str,
        channel: str,
        amount_fen: int,
        currency: str,
        notify_url: str,
        issuance: str | None,
        qr_payload: str,
        expires_at: str,
        now: str,
    ) -> int:
        """A new dynamic-QR order, not paid yet (NOTPAY); returns its row id."""
        cursor = self._db.execute(
            "INSERT INTO qr_transactions (merchant_id, out_trade_no, terminal_id, kind, "
            "channel, amount_fen, currency, trade_state, notify_url, issuance, "
            "qr_payload, expires_at, created_at, updated_at) "
            "VALUES (?, ?, ?, 'precreate', ?, ?, ?, 'NOTPAY', ?, ?, ?, ?, ?, ?)",
            (
                merchant_id,
                out_trade_no,
                terminal_id,
                channel,
                amount_fen,
                currency,
                notify_url,
                issuance,
                qr_payload,
                expires_at,
                now,
                now,
            ),
        )
        return int(cursor.lastrowid or 0)

    def set_state(
        self, order_id: int, trade_state: str, now: str, *, error_code: str | None = None
    ) -> None:
        """Move an order to ``trade_state`` (with ``error_code``, if given)."""
        changes: dict[str, object] = {"trade_state": trade_state}
        if error_code is not None:
            changes["error_code"] = error_code
        changes["updated_at"] = now
        ORDERS.update(self._db, order_id, changes)

    def mark_paid(self, order_id: int, transaction_id: str, now: str) -> None:
        """SUCCESS: paid now, under the channel's ``transaction_id``."""
        ORDERS.update(
            self._db,
            order_id,
            {
                "trade_state": "SUCCESS",
                "transaction_id": transaction_id,
                "paid_at": now,
                "error_code": None,
                "updated_at": now,
            },
        )

    def set_wallet(self, order_id: int, wallet: str) -> None:
        """The wallet that paid a dynamic QR."""
        ORDERS.update(self._db, order_id, {"wallet": wallet})

    def find_refund(self, merchant_id: str, out_refund_no: str) -> QrRefund | None:
        """The merchant's refund with this number, if any."""
        return REFUNDS.first(
            self._db, "merchant_id = ? AND out_refund_no = ?", (merchant_id, out_refund_no)
        )

    def add_refund(self, order: QrOrder, out_refund_no: str, refund_fen: int, now: str) -> int:
        """A refund of part of ``order`` (its ``refund_id`` still empty), and the
        order's refunded amount grown by it (state REFUND); returns its row id."""
        cursor = self._db.execute(
            "INSERT INTO qr_refunds (merchant_id, out_refund_no, out_trade_no, "
            "refund_fen, refund_id, created_at) VALUES (?, ?, ?, ?, '', ?)",
            (order.merchant_id, out_refund_no, order.out_trade_no, refund_fen, now),
        )
        self._db.execute(
            "UPDATE qr_transactions SET trade_state = 'REFUND', "
            "refunded_fen = refunded_fen + ?, updated_at = ? WHERE id = ?",
            (refund_fen, now, order.id),
        )
        return int(cursor.lastrowid or 0)

    def set_refund_id(self, refund_row: int, refund_id: str) -> None:
        """The channel's id for a refund (made from its row id)."""
        REFUNDS.update(self._db, refund_row, {"refund_id": refund_id})


class QrOrders:
    """The QR part of the ledger, on the ledger's store.

    Args:
        store: the ledger's :class:`~simulator.storage.SqliteStore`.
    """

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    @contextlib.contextmanager
    def transaction(self) -> Iterator[QrBook]:
        """One ledger transaction over the QR tables, committed at the end.

        Raises:
            GatewayError: the ledger cannot be written.
        """
        with self._store.transaction() as db:
            yield QrBook(db)

    def find(self, merchant_id: str, out_trade_no: str) -> QrOrder | None:
        """The merchant's order with this number, if any."""
        return self._store.row_as(ORDERS, _BY_KEY, (merchant_id, out_trade_no))

    def find_any(self, out_trade_no: str) -> list[QrOrder]:
        """Every merchant's order with this number, oldest first."""
        return self._store.rows_as(ORDERS, "out_trade_no = ?", (out_trade_no,))

    def orders(self) -> list[QrOrder]:
        """Every order, oldest first."""
        return self._store.rows_as(ORDERS)

    def refunds(self) -> list[QrRefund]:
        """Every refund, oldest first."""
        return self._store.rows_as(REFUNDS)

    def count_notify(self, order_id: int, *, delivered: bool, now: str) -> None:
        """One more notify attempt; the first delivery's time is kept."""
        with self._store.transaction() as db:
            db.execute(
                "UPDATE qr_transactions SET notify_attempts = notify_attempts + 1, "
                "notified_at = CASE WHEN ? AND notified_at IS NULL THEN ? ELSE notified_at END "
                "WHERE id = ?",
                (delivered, now, order_id),
            )
