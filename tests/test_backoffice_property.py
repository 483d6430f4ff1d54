"""For random days with random statement faults: the merchant's merged statement adds
up to what the ledger holds (paid minus refunded, voided or reversed), the fees equal
the documented formula, and reconciliation names exactly the faulted lines."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from backoffice_helpers import MID, Day, today
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.gateway.backoffice.entries import CHANNELS, QR_CHANNELS
from simulator.gateway.backoffice.faults import FAULT_KINDS, StatementFault
from simulator.gateway.backoffice.fees import Profile, Profiles
from simulator.gateway.backoffice.service import run_day
from simulator.gateway.backoffice.statements import open_ledger
from simulator.wire.money import fee_fen

PROFILES = Profiles.load()
_MAGIC_FEN = {5, 51, 54, 55, 68, 91, 96}  # magic_amounts.yaml: these fen parts decline
amounts = st.integers(1, 99_999).filter(lambda fen: fen % 100 not in _MAGIC_FEN)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("qr_pay"), st.sampled_from(QR_CHANNELS), amounts),
        st.tuples(st.just("qr_refund"), st.integers(0, 20), st.integers(1, 99_999)),
        st.tuples(st.just("qr_revoke"), st.integers(0, 20)),
        st.tuples(st.just("card_sale"), amounts),
        st.tuples(st.just("card_void"), st.integers(0, 20)),
        st.tuples(st.just("card_refund"), st.integers(0, 20), st.integers(1, 99_999)),
        st.tuples(st.just("card_reverse"), st.integers(0, 20)),
    ),
    max_size=25,
)
faults = st.dictionaries(st.sampled_from(CHANNELS), st.sampled_from(FAULT_KINDS), max_size=4)


class _Card:
    def __init__(self, rrn: str, stan: str, fen: int) -> None:
        self.rrn, self.stan, self.fen = rrn, stan, fen
        self.offsets = 0  # approved voids/refunds so far
        self.reversed = False
        self.voided = False


def _play(day: Day, ops: Sequence[tuple[object, ...]]) -> None:
    orders: list[str] = []
    cards: list[_Card] = []
    rrn = 0
    for op in ops:
        kind = op[0]
        if kind == "qr_pay":
            orders.append(f"O{len(orders)}")
            day.qr_pay(str(op[1]), orders[-1], int(op[2]))
        elif kind in ("qr_refund", "qr_revoke") and orders:
            order = orders[int(op[1]) % len(orders)]
            found = day.qr.find(MID, order)
            assert found is not None
            left = found.amount_fen - found.refunded_fen
            if found.trade_state not in ("SUCCESS", "REFUND") or left == 0:
                continue
            if kind == "qr_revoke":
                day.qr_revoke(order)
            else:
                day.qr_refund(order, f"{order}R{found.refunded_fen}", min(left, int(op[2])))
        elif kind == "card_sale":
            rrn += 1
            stan = day.card_sale(f"{rrn:012d}", int(op[1]))
            cards.append(_Card(f"{rrn:012d}", stan, int(op[1])))
        elif cards:
            sale = cards[int(op[1]) % len(cards)]
            left = sale.fen - sale.offsets
            if sale.reversed or sale.voided or left == 0:
                continue
            if kind == "card_reverse":
                if sale.offsets == 0:
                    day.card_reverse(sale.stan)
                    sale.reversed = True
                continue
            rrn += 1
            if kind == "card_void" and sale.offsets == 0:
                day.card_void(f"{rrn:012d}", sale.rrn, sale.fen)
                sale.voided = True
                sale.offsets = sale.fen
            elif kind == "card_refund":
                fen = min(left, int(op[2]))
                day.card_refund(f"{rrn:012d}", sale.rrn, fen)
                sale.offsets += fen


def _ledger_truth(path: Path, profile: Profile) -> tuple[int, int]:
    """Net money and the merchant's fee, straight from the tables: per QR order its
    amount less refunds while paid (0 once revoked); per card sale its amount less
    approved voids/refunds while approved (0 once reversed). The fee: the rate on each
    payment's remainder, rounded half-up (docs/backoffice.md)."""
    db = sqlite3.connect(path)
    net = fee = 0
    for channel, amount, refunded, state in db.execute(
        "SELECT channel, amount_fen, refunded_fen, trade_state FROM qr_transactions"
    ):
        if state in ("SUCCESS", "REFUND"):
            net += amount - refunded
            fee += fee_fen(amount - refunded, profile.rates[channel])
    for rrn, amount, status in db.execute(
        "SELECT rrn, amount, status FROM card_transactions WHERE processing_code = '000000'"
    ):
        (offsets,) = db.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM card_transactions WHERE original_rrn = ? "
            "AND status = 'approved'",
            (rrn,),
        ).fetchone()
        if status == "approved":
            net += amount - offsets
            fee += fee_fen(amount - offsets, profile.rates["card"])
    db.close()
    return net, fee


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=operations, channel_faults=faults, profile_name=st.sampled_from(sorted(PROFILES.profiles))
)
def test_merged_statement_equals_the_ledger_and_faults_are_named(
    ops: list[tuple[object, ...]], channel_faults: dict[str, str], profile_name: str
) -> None:
    profile = PROFILES.profiles[profile_name]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.sqlite"
        day = Day(path)
        try:
            _play(day, ops)
        finally:
            day.ledger.close()
        db = open_ledger(path)
        clean = run_day(db, today(), MID, profile)
        # A fault needs a payment to act on (except channel_only): only those that have one.
        armed = [
            StatementFault(ch, kind, amount_fen=123 if kind == "channel_only" else None)
            for ch, kind in channel_faults.items()
            if kind == "channel_only"
            or any(e.kind == "payment" and not e.reversed for e in clean.statements[ch].entries)
        ]
        result = run_day(db, today(), MID, profile, armed)
        db.close()
        net, fee = _ledger_truth(path, profile)

    merged = result.merged
    assert merged.total.net_fen == net == sum(e.net_fen for e in merged.entries)
    assert sum(c.net_fen for c in merged.channels.values()) == net
    assert result.fees["total"].fee_fen == fee == sum(merged.fees)
    # The margin is volume x (rate - cost) to within a fen per line (each fee is rounded).
    for channel, figures in result.fees.items():
        if channel == "total":
            continue
        spread = Decimal(figures.volume_fen) * (profile.rates[channel] - profile.costs[channel])
        assert abs(figures.margin_fen - spread) <= figures.lines
    assert clean.report.balanced
    assert sum(s.net_fen for s in clean.statements.values()) == net
    named = sorted((e.channel, e.category) for e in result.report.exceptions)
    assert named == sorted((f.channel, f.kind) for f in armed)
    assert result.report.matched_total == clean.report.matched_total - sum(
        1 for f in armed if f.kind != "channel_only"
    )
