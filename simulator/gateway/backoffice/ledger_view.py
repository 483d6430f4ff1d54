"""The platform's own view of a day: read queries on the gateway ledger.

Card rows follow the ledger convention (docs/backoffice.md): a sale is MTI
0200 with processing code 000000, a void 0200/200000, a refund 0220/200000;
voids and refunds carry the sale's RRN in ``original_rrn`` and every row a
``batch_no`` (schema version 3; a version 2 ledger has neither and its voids
and refunds are then not linked to their sale). Of the pre-authorisation
family (``type_code``, schema version 4) only money counts: a completion is a
payment (the ``0220`` advice too), a completion void a void of it; a pre-auth
and its void hold and release, and are not lines. Approved rows count; a row
undone by a 0400 is 'reversed' and kept as a reversed line. QR orders count
from the day they were paid (SUCCESS, REFUND; REVOKED after payment as a
reversed payment) and refunds from the day they were made; the refunds of an
order revoked afterwards are superseded by the revoke (the ledger counts such
an order as nothing charged).
"""

from __future__ import annotations

import sqlite3
from datetime import date

from simulator.gateway.backoffice.entries import CARD, PAYMENT, REFUND, VOID, Entry

_CARD_KINDS = {("0200", "000000"): PAYMENT, ("0200", "200000"): VOID, ("0220", "200000"): REFUND}
# DE60.1 of the pre-authorisation family -> line kind (None: no money moved).
_PREAUTH_KINDS: dict[str, str | None] = {
    "10": None,
    "11": None,
    "20": PAYMENT,
    "24": PAYMENT,
    "21": VOID,
}


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")}


def card_entries(db: sqlite3.Connection, day: date, merchant_id: str) -> list[Entry]:
    """The day's card lines of one merchant (approved or reversed, with an RRN)."""
    columns = _columns(db, "card_transactions")
    if not columns:
        return []
    original = "original_rrn" if "original_rrn" in columns else "NULL"
    batch = "batch_no" if "batch_no" in columns else "NULL"
    type_code = "type_code" if "type_code" in columns else "''"
    rows = db.execute(
        f"SELECT id, mti, processing_code, amount, masked_pan, rrn, status, created_at, tid, "
        f"{original}, {batch}, {type_code} FROM card_transactions "
        "WHERE mid = ? AND substr(created_at, 1, 10) = ? AND status IN ('approved', 'reversed') "
        "AND rrn IS NOT NULL ORDER BY id",
        (merchant_id, day.isoformat()),
    ).fetchall()
    entries = []
    for id_, mti, code, amount, pan, rrn, status, created, tid, orig_rrn, batch_no, family in rows:
        kind = _PREAUTH_KINDS.get(str(family)) if family else _CARD_KINDS.get((str(mti), str(code)))
        if kind is None:
            continue
        original_fen, before = int(amount), 0
        if kind != PAYMENT and orig_rrn:
            original_fen, before = _card_original(db, str(orig_rrn), int(id_), merchant_id)
        entries.append(
            Entry(
                channel=CARD,
                kind=kind,
                ref=str(rrn),
                order=str(rrn) if kind == PAYMENT else str(orig_rrn or ""),
                amount_fen=int(amount),
                at=str(created),
                reversed=status == "reversed",
                transaction_id=str(rrn),
                terminal_id=str(tid),
                masked_pan=str(pan),
                batch_no="" if batch_no is None else str(batch_no),
                original_fen=original_fen,
                refunded_before_fen=before,
            )
        )
    return entries


def _card_original(
    db: sqlite3.Connection, original_rrn: str, row_id: int, merchant_id: str
) -> tuple[int, int]:
    """The sale's amount and what approved voids/refunds took from it before row ``row_id``."""
    sale = db.execute(
        "SELECT amount FROM card_transactions WHERE mid = ? AND rrn = ? "
        "AND mti IN ('0200', '0220') AND processing_code = '000000' ORDER BY id LIMIT 1",
        (merchant_id, original_rrn),
    ).fetchone()
    (before,) = db.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM card_transactions WHERE mid = ? "
        "AND original_rrn = ? AND status = 'approved' AND id < ? AND processing_code = '200000'",
        (merchant_id, original_rrn, row_id),
    ).fetchone()
    if sale is None:  # the sale is not in this ledger: the refund alone is known
        return 0, 0
    return int(sale[0]), int(before)


def qr_entries(db: sqlite3.Connection, day: date, merchant_id: str) -> list[Entry]:
    """The day's QR payments and refunds of one merchant, every channel."""
    text = day.isoformat()
    entries = []
    for no, channel, amount, state, txid, paid_at, tid, kind in db.execute(
        "SELECT out_trade_no, channel, amount_fen, trade_state, transaction_id, paid_at, "
        "terminal_id, kind FROM qr_transactions WHERE merchant_id = ? AND paid_at IS NOT NULL "
        "AND substr(paid_at, 1, 10) = ? AND trade_state IN ('SUCCESS', 'REFUND', 'REVOKED') "
        "ORDER BY id",
        (merchant_id, text),
    ):
        entries.append(
            Entry(
                channel=str(channel),
                kind=PAYMENT,
                ref=str(no),
                order=str(no),
                amount_fen=int(amount),
                at=str(paid_at),
                reversed=state == "REVOKED",
                transaction_id=str(txid or ""),
                terminal_id=str(tid),
                method=str(kind),
                original_fen=int(amount),
            )
        )
    for refund_no, no, refund, refund_id, created, channel, amount, tid, kind, before in db.execute(
        "SELECT r.out_refund_no, r.out_trade_no, r.refund_fen, r.refund_id, r.created_at, "
        "t.channel, t.amount_fen, t.terminal_id, t.kind, "
        "(SELECT COALESCE(SUM(p.refund_fen), 0) FROM qr_refunds p WHERE p.merchant_id = "
        "r.merchant_id AND p.out_trade_no = r.out_trade_no AND p.id < r.id) "
        "FROM qr_refunds r JOIN qr_transactions t ON t.merchant_id = r.merchant_id "
        "AND t.out_trade_no = r.out_trade_no WHERE r.merchant_id = ? "
        "AND substr(r.created_at, 1, 10) = ? AND t.trade_state != 'REVOKED' ORDER BY r.id",
        (merchant_id, text),
    ):
        entries.append(
            Entry(
                channel=str(channel),
                kind=REFUND,
                ref=str(refund_no),
                order=str(no),
                amount_fen=int(refund),
                at=str(created),
                transaction_id=str(refund_id),
                terminal_id=str(tid),
                method=str(kind),
                original_fen=int(amount),
                refunded_before_fen=int(before),
            )
        )
    return entries


def day_entries(db: sqlite3.Connection, day: date, merchant_id: str) -> list[Entry]:
    """Every line of the day for one merchant: QR first, then card, each in ledger order."""
    return [*qr_entries(db, day, merchant_id), *card_entries(db, day, merchant_id)]


def channel_entries(
    db: sqlite3.Connection, channel: str, day: date, merchant_id: str
) -> list[Entry]:
    return [e for e in day_entries(db, day, merchant_id) if e.channel == channel]
