"""Alipay's face-to-face trades (当面付) and the book that keeps them, within bounds.

States (opendocs.alipay.com/open/194/106039, alipay.trade.query ``trade_status``)::

    bar_code pay  -> TRADE_SUCCESS, or WAIT_BUYER_PAY (code 10003: the buyer confirms on
                     the phone) -> TRADE_SUCCESS when the buyer confirms
    precreate     -> (no trade until the buyer scans: ACQ.TRADE_NOT_EXIST) -> scanned:
                     WAIT_BUYER_PAY -> TRADE_SUCCESS
    WAIT_BUYER_PAY -- close / cancel --> TRADE_CLOSED
    TRADE_SUCCESS  -- cancel / full refund --> TRADE_CLOSED (partial refunds keep it SUCCESS)

The book holds at most ``max_trades`` trades; the oldest goes first (a real
channel archives, possim forgets: docs/reliability.md).
"""

from __future__ import annotations

import enum
import hashlib
from collections import OrderedDict
from datetime import datetime

import attrs


class TradeStatus(str, enum.Enum):
    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
    TRADE_SUCCESS = "TRADE_SUCCESS"
    TRADE_CLOSED = "TRADE_CLOSED"
    TRADE_FINISHED = "TRADE_FINISHED"


@attrs.frozen
class Refund:
    out_request_no: str
    amount_fen: int
    at: datetime
    reason: str = ""


@attrs.define
class Trade:
    app_id: str
    out_trade_no: str
    trade_no: str
    total_fen: int
    subject: str
    status: TradeStatus
    created: datetime
    scene: str  # "bar_code", "wave_code" or "precreate"
    notify_url: str | None = None
    qr_code: str | None = None
    scanned: bool = True  # a precreated trade exists for the buyer only once scanned
    buyer_user_id: str = ""
    buyer_logon_id: str = ""
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    pay_due: float | None = None  # clock.monotonic() at which a waiting buyer confirms
    close_due: float | None = None  # clock.monotonic() at which an unpaid trade closes
    refunds: dict[str, Refund] = attrs.Factory(dict)

    @property
    def refunded_fen(self) -> int:
        return sum(r.amount_fen for r in self.refunds.values())

    @property
    def exists(self) -> bool:
        """What alipay.trade.query can see."""
        return self.scanned


DEFAULT_MAX_TRADES = 10_000


class TradeBook:
    """Trades by (app_id, out_trade_no) and by trade_no; the oldest evicted beyond the bound."""

    def __init__(self, max_trades: int = DEFAULT_MAX_TRADES) -> None:
        if max_trades < 1:
            raise ValueError("max_trades must be at least 1")
        self.max_trades = max_trades
        self._by_out: OrderedDict[tuple[str, str], Trade] = OrderedDict()
        self._by_no: dict[str, Trade] = {}
        self._by_qr: dict[str, Trade] = {}
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._by_out)

    def add(self, trade: Trade) -> None:
        key = (trade.app_id, trade.out_trade_no)
        if key in self._by_out:
            raise ValueError(f"trade {trade.out_trade_no} exists")
        while len(self._by_out) >= self.max_trades:
            _, oldest = self._by_out.popitem(last=False)
            self._by_no.pop(oldest.trade_no, None)
            if oldest.qr_code:
                self._by_qr.pop(oldest.qr_code, None)
            self.evicted += 1
        self._by_out[key] = trade
        self._by_no[trade.trade_no] = trade
        if trade.qr_code:
            self._by_qr[trade.qr_code] = trade

    def find(self, app_id: str, out_trade_no: str | None, trade_no: str | None) -> Trade | None:
        """By trade_no first (Alipay: "如果同时存在优先取trade_no"), else out_trade_no."""
        if trade_no:
            trade = self._by_no.get(trade_no)
            return trade if trade is not None and trade.app_id == app_id else None
        if out_trade_no:
            return self._by_out.get((app_id, out_trade_no))
        return None

    def by_qr_code(self, qr_code: str) -> Trade | None:
        return self._by_qr.get(qr_code)

    def trades(self) -> list[Trade]:
        return list(self._by_out.values())

    def snapshot(self) -> tuple[object, ...]:
        """Everything the book holds, comparable: what a rejected request must leave alone."""
        return tuple(attrs.astuple(t) for t in self._by_out.values())


def buyer_of(seed: str) -> tuple[str, str]:
    """A stable buyer (``buyer_user_id``, masked ``buyer_logon_id``) for a payment code."""
    digest = int(hashlib.sha256(seed.encode("utf-8")).hexdigest(), 16)
    return f"2088{digest % 10**12:012d}", f"1{digest % 90 + 30}****{digest // 97 % 10000:04d}"
