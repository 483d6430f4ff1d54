"""Nothing lost, nothing doubled: the load test's records against the gateway's ledger.

After a run against ``possim gateway serve --ledger PATH`` (stopped, so its
ledger is complete), :func:`check_ledger` reads every record file the Locust
processes wrote (:mod:`.record`) and the ledger, and lists what does not
match:

* every card request the host answered (0200 sale, void, 0220 refund, 0100
  pre-auth, 0200 pre-auth completion) is in the ledger exactly once under its
  key (DE41, DE11, DE7), with the RRN the terminal received and the response
  code it was told; an approved one is the kind of row the terminal sent
  (a completion is a completion, not a sale) and names the original (RRN) the
  terminal named;
* every approved reversal (0410 ``00``) left its sale ``reversed``; every
  other approved request is ``approved``;
* the ledger holds no card row for these terminals that no record names
  (nothing charged that a terminal does not know of);
* every QR order a terminal saw paid is paid in the ledger (``SUCCESS`` or,
  once refunded, ``REFUND``) with its amount, and every refund it was granted
  is there once with its amount.

The same check as :mod:`simulator.bench.gateway_load`'s for the old fleet,
across processes and machines.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import attrs

from drivers.clock import RealClock
from simulator.errors import SimulatorError
from simulator.gateway.ledger import Ledger, LedgerEntry, QrOrder, QrRefund
from simulator.gateway.ledger.card import Status
from simulator.loadtest.record import read_records
from simulator.wire.response_codes import APPROVED

_CARD_MTIS = ("0100", "0200", "0220")
MAX_SHOWN = 5  # problems listed in full; the rest are counted


@attrs.frozen
class LedgerCheck:
    """What the check compared, and what did not match (empty: all is well)."""

    card_requests: int  # answered 0100/0200/0220 the records hold
    approvals: int  # of which approved (the host said 00)
    reversals: int  # approved 0400s
    completions: int  # approved pre-auth completions (charged, as a sale is)
    qr_paid: int  # QR orders the terminals saw paid
    qr_refunds: int
    problems: tuple[str, ...]

    def lines(self) -> list[str]:
        lines = [
            f"card requests answered: {self.card_requests} ({self.approvals} approved, "
            f"{self.completions} of them completions, {self.reversals} reversed); "
            f"QR orders paid: {self.qr_paid}, refunds: {self.qr_refunds}"
        ]
        shown = list(self.problems[:MAX_SHOWN])
        if len(self.problems) > MAX_SHOWN:
            shown.append(f"... and {len(self.problems) - MAX_SHOWN} more")
        return lines + (shown or ["ledger: every record found once, nothing else"])


def check_ledger(ledger_path: Path, records_folder: Path, merchant_id: str = "") -> LedgerCheck:
    records = list(read_records(records_folder))
    card = [r for r in records if r.get("mti") in _CARD_MTIS and isinstance(r.get("rc"), str)]
    reversed_keys = {
        (str(r["tid"]), str(r["original"])[:6], str(r["original"])[6:])
        for r in records
        if r.get("mti") == "0400" and r.get("rc") == APPROVED and "original" in r
    }
    problems: list[str] = []
    with Ledger(ledger_path, RealClock()) as ledger:
        rows = ledger.transactions()
        orders = {(o.merchant_id, o.out_trade_no): o for o in ledger.qr_orders.orders()}
        refund_list = ledger.qr_orders.refunds()
    refunds = Counter((r.merchant_id, r.out_refund_no) for r in refund_list)
    refund_rows = {(r.merchant_id, r.out_refund_no): r for r in refund_list}
    by_key: dict[tuple[str, str, str], list[LedgerEntry]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    seen: set[tuple[str, str, str]] = set()
    approvals = completions = 0
    for record in card:
        key = (str(record["tid"]), str(record["stan"]), str(record["transmission"]))
        seen.add(key)
        found = by_key.get(key, [])
        where = f"{key[0]}/{key[1]}/{key[2]} {record.get('name')}"
        if len(found) != 1:
            problems.append(f"{where}: in the ledger {len(found)} times, expected once")
            continue
        row = found[0]
        if record.get("rc") != APPROVED:
            if row.status is Status.APPROVED:
                problems.append(f"{where}: told {record.get('rc')}, ledger says approved")
            continue
        approvals += 1
        expected = Status.REVERSED if key in reversed_keys else Status.APPROVED
        if (row.rrn or "") != record.get("rrn"):
            problems.append(f"{where}: ledger RRN {row.rrn}, terminal told {record.get('rrn')}")
        if "operation" in record and row.kind != record["operation"]:
            problems.append(
                f"{where}: ledger holds a {row.kind}, terminal sent {record['operation']}"
            )
        if "original_rrn" in record and (row.original_rrn or "") != record["original_rrn"]:
            problems.append(
                f"{where}: ledger original RRN {row.original_rrn}, "
                f"terminal named {record['original_rrn']}"
            )
        completions += row.kind == "preauth_completion"
        if row.status is not expected:
            problems.append(f"{where}: ledger status {row.status}, expected {expected}")
    for key in reversed_keys - seen:
        problems.append(f"{key[0]}/{key[1]}/{key[2]}: reversed, but its sale is not recorded")
    tids = {str(r["tid"]) for r in records if "tid" in r}
    extra = [row for row in rows if row.tid in tids and row.key not in seen]
    if extra:
        problems.append(
            f"ledger holds {len(extra)} card rows no terminal recorded "
            f"(first: {extra[0].tid}/{extra[0].stan}/{extra[0].transmission})"
        )
    qr_paid, qr_refunds = _check_qr(records, orders, refunds, refund_rows, merchant_id, problems)
    return LedgerCheck(
        len(card),
        approvals,
        len(reversed_keys),
        completions,
        qr_paid,
        qr_refunds,
        tuple(problems),
    )


def _check_qr(
    records: list[dict[str, object]],
    orders: dict[tuple[str, str], QrOrder],
    refunds: Counter[tuple[str, str]],
    refund_rows: dict[tuple[str, str], QrRefund],
    merchant_id: str,
    problems: list[str],
) -> tuple[int, int]:
    paid = {str(r["qr_order"]) for r in records if r.get("paid") == "1"}
    amounts = {
        str(r["qr_order"]): int(str(r["amount"]))
        for r in records
        if "amount" in r and "qr_order" in r
    }
    for order_no in sorted(paid):
        order = _order(orders, merchant_id, order_no)
        if order is None:
            problems.append(f"QR {order_no}: paid, but not in the ledger")
            continue
        if order.trade_state not in ("SUCCESS", "REFUND"):
            problems.append(f"QR {order_no}: paid, ledger says {order.trade_state}")
        if order.amount_fen != amounts.get(order_no):
            problems.append(f"QR {order_no}: ledger amount {order.amount_fen}")
    granted = [r for r in records if "qr_refund" in r and r.get("ok") is True]
    for record in granted:
        key = _key(refunds, merchant_id, str(record["qr_refund"]))
        count = refunds.get(key, 0) if key is not None else 0
        if count != 1:
            problems.append(f"QR refund {record['qr_refund']}: in the ledger {count} times")
            continue
        assert key is not None
        row = refund_rows[key]
        if row.refund_fen != int(str(record["refund"])):
            problems.append(f"QR refund {record['qr_refund']}: ledger {row.refund_fen} fen")
    return len(paid), len(granted)


def _order(
    orders: dict[tuple[str, str], QrOrder], merchant_id: str, order_no: str
) -> QrOrder | None:
    if merchant_id:
        return orders.get((merchant_id, order_no))
    return next((o for (_, number), o in orders.items() if number == order_no), None)


def _key(
    refunds: Counter[tuple[str, str]], merchant_id: str, refund_no: str
) -> tuple[str, str] | None:
    if merchant_id:
        return (merchant_id, refund_no)
    return next((key for key in refunds if key[1] == refund_no), None)


def main(argv: list[str] | None = None) -> int:
    """``python -m simulator.loadtest.ledger_check LEDGER RECORDS [MERCHANT_ID]``: 0 all well,
    1 mismatches (listed), 2 unreadable input (one line)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print(
            "usage: python -m simulator.loadtest.ledger_check LEDGER RECORDS_DIR [MERCHANT_ID]",
            file=sys.stderr,
        )
        return 2
    try:
        check = check_ledger(Path(args[0]), Path(args[1]), args[2] if len(args) == 3 else "")
    except SimulatorError as exc:
        print(f"ledger check: {exc}", file=sys.stderr)
        return 2
    print("\n".join(check.lines()))
    return 1 if check.problems else 0


if __name__ == "__main__":
    sys.exit(main())
