"""UnionPay QR orders: what the simulated UnionPay remembers, within bounds.

An order is keyed by (merId, orderId, txnTime), as ACP queries it; each
transaction gets a ``queryId`` (refunds and voids name the original by it).
States, as a query's ``origRespCode`` reports them: ``05`` accepted, waiting for
the cardholder (password, or a B2C code not yet paid), ``00`` done, ``01``
failed. At most ``max_orders`` are kept; the oldest go first.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

import attrs

DEFAULT_MAX_ORDERS = 10_000


@attrs.define
class Order:
    mer_id: str
    order_id: str
    txn_time: str
    txn_type: str  # "01" consume, "04" refund, "31" void
    txn_sub_type: str  # "06" C2B payment code, "07" B2C order, "00" others
    amount_fen: int
    query_id: str
    created: datetime
    back_url: str = ""
    req_reserved: str = ""
    orig_resp_code: str = "05"
    orig_resp_msg: str = "交易已受理，请稍后查询交易结果"
    qr_code: str = ""
    issuance: str = "central"
    pay_due: float | None = None
    orig_query_id: str = ""  # a refund's or a void's original
    refunded_fen: int = 0
    voided: bool = False
    settle_date: str = ""
    trace_no: str = ""


class OrderBook:
    def __init__(self, max_orders: int = DEFAULT_MAX_ORDERS) -> None:
        self.max_orders = max_orders
        self._by_key: OrderedDict[tuple[str, str, str], Order] = OrderedDict()
        self._by_query_id: dict[str, Order] = {}
        self._by_qr: dict[str, Order] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def add(self, order: Order) -> None:
        while len(self._by_key) >= self.max_orders:
            _, oldest = self._by_key.popitem(last=False)
            self._by_query_id.pop(oldest.query_id, None)
            self._by_qr.pop(oldest.qr_code, None)
        self._by_key[(order.mer_id, order.order_id, order.txn_time)] = order
        self._by_query_id[order.query_id] = order
        if order.qr_code:
            self._by_qr[order.qr_code] = order

    def find(self, mer_id: str, order_id: str, txn_time: str) -> Order | None:
        return self._by_key.get((mer_id, order_id, txn_time))

    def by_query_id(self, query_id: str) -> Order | None:
        return self._by_query_id.get(query_id)

    def by_qr_code(self, qr_code: str) -> Order | None:
        return self._by_qr.get(qr_code)

    def orders(self) -> list[Order]:
        return list(self._by_key.values())

    def snapshot(self) -> tuple[object, ...]:
        return tuple(attrs.astuple(o) for o in self._by_key.values())
