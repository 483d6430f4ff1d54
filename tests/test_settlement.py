"""The batch close: DE48, the host's recount (0500/0510), the ledger's schema 3
(and its migration from version 2), the terminal's batch lifecycle and the
settlement report's hygiene."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_helpers import everything_written, gateway_requests, insert, pin, remove, simulation
from test_card_void_refund import refund, sale, void
from test_gateway_host import DE7, MID, TID, make_host

from drivers.clock import RealClock
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.gateway.acquirer import AcquirerHost
from simulator.gateway.faults import ReplyFault
from simulator.gateway.ledger import SCHEMA_VERSION, Ledger, Status
from simulator.gateway.server import HostIsoMessage
from simulator.shop import Shop
from simulator.terminal.cashier_app import SaleResult
from simulator.terminal.journal import BATCH_WRAP, Journal, SettlementState, TxnState
from simulator.terminal.settlement import batch_totals
from simulator.wire.batch_totals import BatchTotals, decode_de48, encode_de48

BATCH = "000001"
MAGIC_FEN = (5, 51, 54, 55, 68, 91, 96)  # firmware_fixtures/gateway/magic_amounts.yaml
DEBIT = cards.load("unionpay_debit")


def settle_request(totals: BatchTotals, stan: str = "000050", batch: str = BATCH) -> dict[str, str]:
    return {
        "t": "0500",
        "7": DE7,
        "11": stan,
        "41": TID,
        "42": MID,
        "48": encode_de48(totals),
        "49": "156",
        "60": f"00{batch}201",
    }


@pytest.fixture
def host() -> AcquirerHost:
    return make_host(RealClock())


# -- DE48 ---------------------------------------------------------------------------


def test_de48_layout_is_cups() -> None:
    de48 = encode_de48(BatchTotals(2, 4690, 1, 3456))
    assert de48 == "000000004690" + "002" + "000000003456" + "001" + "0" + "0" * 31
    assert decode_de48(de48) == (BatchTotals(2, 4690, 1, 3456), "0")
    assert decode_de48(de48[:-1]) is None
    assert decode_de48("x" * 62) is None
    with pytest.raises(ValueError, match="do not fit"):
        encode_de48(BatchTotals(1000, 1, 0, 0))


@given(
    st.integers(0, 999), st.integers(0, 10**12 - 1), st.integers(0, 999), st.integers(0, 10**12 - 1)
)
def test_de48_round_trips(dc: int, dt: int, cc: int, ct: int) -> None:
    totals = BatchTotals(dc, dt, cc, ct)
    assert decode_de48(encode_de48(totals, "2")) == (totals, "2")


# -- the host's recount ---------------------------------------------------------------


def test_a_balanced_batch_close_is_recorded_and_answered_1(host: AcquirerHost) -> None:
    first = sale(host, 1234, "000001")
    second = sale(host, 3456, "000002")
    sale(host, 2051, "000003")  # declined: not counted
    assert host.handle(void("000004", second["37"], 3456, second["38"]))
    assert host.handle(refund("000005", first["37"], 34))
    reply = host.handle(settle_request(BatchTotals(2, 4690, 2, 3490)))
    assert reply is not None and (reply["t"], reply["39"]) == ("0510", "00")
    assert reply["48"][30] == "1" and reply["60"] == f"00{BATCH}201"
    (record,) = host.ledger.settlements()
    assert (record.tid, record.batch_no, record.result) == (TID, BATCH, "balanced")
    assert record.sent == record.host == BatchTotals(2, 4690, 2, 3490)


def test_an_out_of_balance_batch_close_says_2_and_keeps_both_views(host: AcquirerHost) -> None:
    sale(host, 1234, "000001")
    sale(host, 800, "000002", batch="000002")  # another batch: not this one's
    reply = host.handle(settle_request(BatchTotals(2, 2034, 0, 0)))
    assert reply is not None and reply["39"] == "00" and reply["48"][30] == "2"
    (record,) = host.ledger.settlements()
    assert record.result == "out_of_balance"
    assert record.host == BatchTotals(1, 1234, 0, 0)


def test_a_settlement_retransmission_gets_the_same_answer(host: AcquirerHost) -> None:
    sale(host, 1234, "000001")
    request = settle_request(BatchTotals(1, 1234, 0, 0))
    first = host.handle(request)
    sale(host, 999, "000002")  # arrives after: the first answer still stands
    assert host.handle(dict(request)) == first
    assert len(host.ledger.settlements()) == 1
    other = host.handle({**request, "48": encode_de48(BatchTotals(9, 9, 0, 0))})
    assert other is not None and other["39"] == "94"


@pytest.mark.parametrize("missing", ["48", "60", "11", "41"])
def test_a_malformed_0500_is_a_format_error(host: AcquirerHost, missing: str) -> None:
    request = settle_request(BatchTotals())
    del request[missing]
    reply = host.handle(request)
    assert reply is not None and reply["39"] == "30"
    assert host.ledger.settlements() == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 99_999_99), st.sampled_from(["keep", "void", "refund"])),
        max_size=12,
    )
)
def test_host_and_terminal_totals_agree_to_the_fen(
    sales: list[tuple[int, str]],
) -> None:
    host = make_host(RealClock())
    expected = BatchTotals()
    stan = 0
    for amount, fate in sales:
        amount = (
            amount - amount % 100 + 1 if amount % 100 in (5, 51, 54, 55, 68, 91, 96) else amount
        )
        stan += 1
        reply = sale(host, amount, f"{stan:06d}")
        assert reply["39"] == "00"
        expected = BatchTotals(
            expected.debit_count + 1, expected.debit_total + amount, *attrs_credit(expected)
        )
        if fate == "keep":
            continue
        stan += 1
        part = amount if fate == "void" else max(1, amount // 3)
        request = (
            void(f"{stan:06d}", reply["37"], amount, reply["38"])
            if fate == "void"
            else refund(f"{stan:06d}", reply["37"], part)
        )
        assert (host.handle(request) or {}).get("39") == "00"
        expected = BatchTotals(
            expected.debit_count,
            expected.debit_total,
            expected.credit_count + 1,
            expected.credit_total + part,
        )
    assert host.ledger.batch_totals(TID, BATCH) == expected
    assert host.ledger.totals().net_amount() == expected.net
    closed = host.handle(settle_request(expected))
    assert closed is not None and closed["48"][30] == "1"


def attrs_credit(totals: BatchTotals) -> tuple[int, int]:
    return totals.credit_count, totals.credit_total


# -- the ledger's schema 3 ---------------------------------------------------------------

_V2_CARD_TABLE = """
CREATE TABLE card_transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tid TEXT NOT NULL, stan TEXT NOT NULL, transmission TEXT NOT NULL, mid TEXT NOT NULL,
    mti TEXT NOT NULL, processing_code TEXT NOT NULL, amount INTEGER NOT NULL,
    currency TEXT NOT NULL, masked_pan TEXT NOT NULL, issuer TEXT, rrn TEXT, auth_code TEXT,
    response_code TEXT,
    status TEXT NOT NULL CHECK (status IN ('approved', 'declined', 'unanswered', 'reversed')),
    note TEXT NOT NULL DEFAULT '', response TEXT, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, reversal_received_at TEXT,
    UNIQUE (tid, stan, transmission)
)
"""


def test_a_version_2_ledger_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as old:
        old.execute(_V2_CARD_TABLE)
        old.execute(
            "INSERT INTO card_transactions (tid, stan, transmission, mid, mti, processing_code,"
            " amount, currency, masked_pan, rrn, status, created_at, updated_at) VALUES"
            " (?, '000001', ?, ?, '0200', '000000', 500, '156', '621483******3655',"
            " '260115000001', 'approved', '2026-01-15T10:30:00', '2026-01-15T10:30:00')",
            (TID, DE7, MID),
        )
        old.execute("PRAGMA user_version = 2")
    clock = VirtualClock()
    with Ledger(path, clock) as ledger:
        (old_row,) = ledger.transactions()
        assert (old_row.batch_no, old_row.original_rrn, old_row.kind) == ("", None, "sale")
        assert ledger.find_sale("260115000001") == old_row
        ledger.record_authorisation(
            tid=TID, stan="000002", transmission=DE7, mid=MID, amount=500, currency="156",
            pan="621483******3655", status=Status.APPROVED, response_code="00",
            mti="0200", processing_code="200000", batch_no="", original_rrn="260115000001",
        )  # fmt: skip
        assert ledger.totals().net_amount() == 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert "card_settlements" in tables
    with Ledger(path, clock) as again:  # migrating twice changes nothing
        assert len(again) == 2


# -- the terminal -----------------------------------------------------------------------


def run(sim: Shop, start: Callable[[], object], *actions: Callable[[Shop], object]) -> SaleResult:
    with sim.clock.actor():
        handle = start()
        sim.clock.settle()
        for action in actions:
            action(sim)
            sim.clock.settle()
        result = handle.wait(3600.0)  # type: ignore[attr-defined]
    assert isinstance(result, SaleResult), sim.terminal.display.screen.text()
    return result


def card_sale(sim: Shop, amount: int) -> SaleResult:
    return run(sim, lambda: sim.terminal.start_sale(amount), insert(DEBIT), pin(DEBIT.pin), remove)


def test_no_answer_leaves_the_batch_open_and_a_retry_closes_it(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        assert card_sale(sim, 1234).approved
        sim.gateway.server.faults.arm(ReplyFault(drop=True, message_kind="settle"))
        failed = run(sim, sim.terminal.start_settlement)
        assert not failed.approved and "stays open" in failed.outcome.reason
        assert sim.terminal.journal.batch_no == BATCH
        retried = run(sim, sim.terminal.start_settlement)
        assert retried.approved, retried.outcome.reason
        first, second = sim.terminal.journal.settlements()
        assert (first.state, second.state) == (SettlementState.FAILED, SettlementState.BALANCED)
        assert first.batch_no == second.batch_no == BATCH and first.stan != second.stan
        assert sim.terminal.journal.batch_no == "000002"
        # The host saw both 0500s (the first answered into the void) and one balanced close.
        assert [r.result for r in sim.gateway.ledger.settlements()] == ["balanced"] * 2
        assert card_sale(sim, 100).approved
        assert sim.terminal.journal.entries()[-1].batch_no == "000002"
        assert gateway_requests(sim)[-1]["60"] == "22000002"


def test_reversals_owed_go_out_before_the_totals(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        assert card_sale(sim, 1234).approved
        faults = sim.gateway.server.faults
        faults.arm(ReplyFault(drop=True, message_kind="sale"))
        faults.arm(
            ReplyFault(drop=True, message_kind="reversal"), 3
        )  # the 0400s of that sale get nothing
        assert not card_sale(sim, 2000).approved
        assert sim.terminal.journal.entries(TxnState.REVERSAL_PENDING)
        assert run(sim, sim.terminal.start_settlement).approved
        (close,) = sim.terminal.journal.settlements()
        assert close.state is SettlementState.BALANCED
        assert sim.terminal.journal.entries(TxnState.REVERSAL_PENDING) == []
        mtis = [e.payload.mti for e in sim.bus.of(HostIsoMessage)]
        assert mtis.index("0500") > max(i for i, mti in enumerate(mtis) if mti == "0400")


def test_the_report_and_the_journal_carry_no_card_data(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        assert card_sale(sim, 1234).approved
        assert run(sim, sim.terminal.start_settlement).approved
        port = sim.world.printer_port
        assert port is not None
        texts = [receipt.text for receipt in port.receipts()]
        (settlement,) = [t for t in texts if "SETTLEMENT" in t]
        assert "12.34" in settlement and "对账平 BALANCED" in settlement
        for secret in (DEBIT.pan, DEBIT.pin, DEBIT.track2, "621483******3655"):
            assert secret not in settlement
        written = everything_written(sim)
        assert DEBIT.pan not in written and DEBIT.track2 not in written


def test_batch_totals_count_approved_rows_only(tmp_path: Path) -> None:
    clock = VirtualClock()
    journal = Journal(tmp_path / "journal.sqlite", clock)
    rows = [("sale", 1000, TxnState.APPROVED), ("sale", 7, TxnState.DECLINED)]
    rows += [("void", 1000, TxnState.APPROVED), ("refund", 250, TxnState.REVERSED)]
    for operation, amount, state in rows:
        entry = journal.begin(
            order_no="o", transmission=DE7, amount_fen=amount, currency="156",
            masked_pan="621483******3655", entry_mode="051", operation=operation,
        )  # fmt: skip
        journal.update(entry.id, state)
    assert batch_totals(journal.entries()) == BatchTotals(1, 1000, 1, 1000)
    journal.close()


def test_the_batch_number_wraps_after_999999(tmp_path: Path) -> None:
    clock = VirtualClock()
    journal = Journal(tmp_path / "journal.sqlite", clock)
    with journal._store.transaction() as db:
        db.execute("UPDATE counters SET value=? WHERE name='batch'", (BATCH_WRAP,))
    assert journal.batch_no == "999999"
    close = journal.begin_settlement(
        transmission=DE7, debit_count=0, debit_total=0, credit_count=0, credit_total=0
    )
    journal.finish_settlement(close.id, SettlementState.BALANCED, response_code="00")
    assert journal.batch_no == "000001"
    journal.close()


def test_an_older_journal_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with sqlite3.connect(path) as old:  # the card table as the first release wrote it
        old.execute(
            "CREATE TABLE transactions (id INTEGER PRIMARY KEY AUTOINCREMENT, order_no TEXT NOT"
            " NULL, batch_no TEXT NOT NULL, stan TEXT NOT NULL, transmission TEXT NOT NULL,"
            " amount_fen INTEGER NOT NULL, currency TEXT NOT NULL, masked_pan TEXT NOT NULL,"
            " entry_mode TEXT NOT NULL, state TEXT NOT NULL, response_code TEXT NOT NULL"
            " DEFAULT '', rrn TEXT NOT NULL DEFAULT '', auth_code TEXT NOT NULL DEFAULT '',"
            " reason TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, updated_at TEXT NOT"
            " NULL, UNIQUE (batch_no, stan))"
        )
        old.execute(
            "INSERT INTO transactions (order_no, batch_no, stan, transmission, amount_fen,"
            " currency, masked_pan, entry_mode, state, created_at, updated_at) VALUES ('o',"
            " '000001', '000001', ?, 100, '156', '621483******3655', '051', 'approved', 't', 't')",
            (DE7,),
        )
    journal = Journal(path, VirtualClock())
    (entry,) = journal.entries()
    assert (entry.operation, entry.original_rrn, entry.card_label) == ("sale", "", "")
    assert batch_totals(journal.entries(batch_no=BATCH)) == BatchTotals(1, 100, 0, 0)
    journal.close()


def test_a_batch_that_gives_back_more_than_it_takes_closes_and_says_so(tmp_path: Path) -> None:
    """A day of refunds of sales from an earlier batch: the batch's net is negative."""
    with simulation(tmp_path) as sim:
        paid = card_sale(sim, 5000)
        assert run(sim, sim.terminal.start_settlement).approved  # the sale's batch is closed
        order = paid.order.order_no
        refunded = run(
            sim, lambda: sim.terminal.start_refund(order, 1200, "card"), insert(DEBIT), remove
        )
        assert refunded.approved, refunded.outcome.reason

        closed = run(sim, sim.terminal.start_settlement)

        assert closed.approved, closed.outcome.reason
        assert closed.outcome.detail is not None
        # The contract's amount is unsigned: the magnitude, and the label says which way.
        assert closed.outcome.detail.amount_fen == 1200
        assert closed.outcome.detail.card_label.endswith("净退款 NET CREDIT")
        second = sim.terminal.journal.settlements()[-1]
        assert (second.state, second.debit_total, second.credit_total) == (
            SettlementState.BALANCED,
            0,
            1200,
        )
