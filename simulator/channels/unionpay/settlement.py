"""UnionPay's settlement file (文件传输, txnType 76), simplified.

The ACP SDKs read the answer's ``fileContent`` as base64 of zlib-compressed
bytes -- a zip -- and save it as ``fileName``. possim's zip holds one file,
named as UnionPay's merchant files are (``INN<yyMMdd>88ZM_<merId>``), but its
lines are possim's own simplified layout: one ``|``-separated line per settled
transaction under a header line, not UnionPay's fixed-width one.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from datetime import datetime

from simulator.channels.unionpay.orders import Order


def settlement_zip(
    orders: Iterable[Order], mer_id: str, settle_date: str, now: datetime
) -> tuple[str, bytes]:
    """possim's simplified settlement file, zipped: one ``|``-separated line per settled
    transaction (not UnionPay's fixed-width ZM layout; docs/channel_unionpay.md)."""
    lines = ["queryId|orderId|txnType|txnSubType|txnTime|txnAmt|settleAmt|origQryId"]
    for order in orders:
        if order.mer_id != mer_id or order.settle_date != settle_date:
            continue
        if order.orig_resp_code != "00":
            continue
        lines.append(
            "|".join(
                (order.query_id, order.order_id, order.txn_type, order.txn_sub_type,
                 order.txn_time, str(order.amount_fen), str(order.amount_fen),
                 order.orig_query_id)
            )
        )  # fmt: skip
    year = now.year if settle_date <= f"{now:%m%d}" else now.year - 1
    name = f"INN{year % 100:02d}{settle_date}88ZM_{mer_id}"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, ("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return f"{name}.zip", out.getvalue()
