"""The acquirer's SQLite ledger."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import pytest

from simulator.clock import DEFAULT_EPOCH, VirtualClock
from simulator.errors import GatewayError
from simulator.gateway.ledger import Ledger, LedgerEntry, Status

PAN = "6214830027183655"


def record(ledger: Ledger, stan: str, **overrides: Any) -> tuple[LedgerEntry, bool]:
    values: dict[str, Any] = {
        "tid": "POS00001",
        "stan": stan,
        "transmission": "0115103000",
        "mid": "898440154110001",
        "amount": 12345,
        "currency": "156",
        "pan": PAN,
        "status": Status.APPROVED,
        "response_code": "00",
        "rrn": f"260115{stan}",
        "auth_code": "123456",
        "response": {"t": "0210", "11": stan, "39": "00"},
    }
    values.update(overrides)
    return ledger.record_authorisation(**values)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def ledger(tmp_path: Path, clock: VirtualClock) -> Any:
    with Ledger(tmp_path / "ledger.sqlite", clock) as opened:
        yield opened


def test_file_ledger_is_wal(tmp_path: Path, clock: VirtualClock) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path, clock) as ledger:
        record(ledger, "000001")
        # synchronous is a per-connection setting: ask the ledger's own connection.
        # NORMAL in WAL mode: commits survive a killed process (tests/test_storage.py).
        with ledger._store.reading() as db:
            assert db.execute("PRAGMA synchronous").fetchone()[0] == 1
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_record_and_find(ledger: Ledger) -> None:
    entry, created = record(ledger, "000001")
    assert created
    assert entry.masked_pan == "621483******3655"
    assert entry.status is Status.APPROVED and entry.charged
    assert entry.amount == 12345 and isinstance(entry.amount, int)
    assert entry.created_at == DEFAULT_EPOCH
    assert entry.response == {"t": "0210", "11": "000001", "39": "00"}
    found = ledger.find("POS00001", "000001", "0115103000")
    assert found == entry
    assert ledger.find("POS00001", "000001", "0115103001") is None
    assert ledger.find("POS00002", "000001", "0115103000") is None


def test_the_key_is_unique_and_the_first_row_wins(ledger: Ledger) -> None:
    first, created = record(ledger, "000001")
    again, created_again = record(ledger, "000001", amount=99, status=Status.DECLINED)
    assert created and not created_again
    assert again == first
    assert len(ledger) == 1
    # Same STAN, another transmission time or terminal: other transactions.
    assert record(ledger, "000001", transmission="0115103001")[1]
    assert record(ledger, "000001", tid="POS00002")[1]
    assert len(ledger) == 3


def test_entries_are_frozen(ledger: Ledger) -> None:
    entry, _ = record(ledger, "000001")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        entry.status = Status.REVERSED  # type: ignore[misc]
    assert entry.response is not None
    with pytest.raises(TypeError):
        entry.response["39"] = "05"  # type: ignore[index]


def test_only_the_masked_pan_reaches_the_disk(tmp_path: Path, clock: VirtualClock) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path, clock) as ledger:
        for n in range(5):
            record(ledger, f"{n:06d}", note=f"card {n}")
        ledger.reverse("POS00001", "000002", "0115103000")
        on_disk = b"".join(
            p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ledger.sqlite")
        )
        assert b"621483******3655" in on_disk
        assert PAN.encode() not in on_disk
    # An already-masked PAN is kept as it is.
    with Ledger(":memory:", clock) as memory:
        entry, _ = record(memory, "000001", pan="621483******3655")
        assert entry.masked_pan == "621483******3655"


def test_reverse_an_approved_transaction_is_idempotent(ledger: Ledger, clock: VirtualClock) -> None:
    record(ledger, "000001")
    clock.advance(5)
    reversed_entry = ledger.reverse("POS00001", "000001", "0115103000").after
    assert reversed_entry is not None
    assert reversed_entry.status is Status.REVERSED
    assert not reversed_entry.charged
    assert reversed_entry.reversal_received_at is not None
    assert (reversed_entry.reversal_received_at - reversed_entry.created_at).total_seconds() == 5
    clock.advance(5)
    again = ledger.reverse("POS00001", "000001", "0115103000")
    # Nothing changed, not even a timestamp.
    assert again.after == again.before == reversed_entry and again.refused is None
    assert len(ledger) == 1


@pytest.mark.parametrize("status", [Status.DECLINED, Status.UNANSWERED])
def test_reverse_leaves_uncharged_transactions_alone(ledger: Ledger, status: Status) -> None:
    record(ledger, "000001", status=status, response_code="51", auth_code=None)
    entry = ledger.reverse("POS00001", "000001", "0115103000").after
    assert entry is not None
    assert entry.status is status
    assert entry.reversal_received_at is not None


def test_reverse_of_an_unknown_transaction(ledger: Ledger) -> None:
    outcome = ledger.reverse("POS00001", "999999", "0115103000")
    assert outcome.before is outcome.after is None
    assert len(ledger) == 0


def test_transactions_by_day_and_totals(ledger: Ledger, clock: VirtualClock) -> None:
    record(ledger, "000001", amount=1000)
    record(ledger, "000002", amount=2000, status=Status.DECLINED, response_code="51")
    record(ledger, "000003", amount=4000, status=Status.UNANSWERED, response_code=None)
    record(ledger, "000004", amount=8000)
    record(ledger, "000005", amount=500, currency="840")
    ledger.reverse("POS00001", "000004", "0115103000")
    clock.advance(24 * 3600)
    record(ledger, "000006", amount=16000)

    first_day = ledger.transactions(date(2026, 1, 15))
    assert [e.stan for e in first_day] == ["000001", "000002", "000003", "000004", "000005"]
    assert [e.stan for e in ledger.transactions("2026-01-16")] == ["000006"]
    assert len(ledger.transactions()) == 6

    totals = ledger.totals(date(2026, 1, 15))
    assert (totals.count, totals.approved, totals.declined) == (5, 2, 1)
    assert (totals.unanswered, totals.reversed) == (1, 1)
    assert totals.net_amount() == 1000
    assert totals.net_amount("840") == 500
    assert ledger.totals().net_amount() == 17000


def test_reopening_keeps_the_rows(tmp_path: Path, clock: VirtualClock) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path, clock) as ledger:
        record(ledger, "000001")
        record(ledger, "000002")
    with Ledger(path, clock) as reopened:
        assert len(reopened) == 2
        assert reopened.last_id() == 2
        assert reopened.find("POS00001", "000002", "0115103000") is not None


def test_a_foreign_schema_version_is_refused(tmp_path: Path, clock: VirtualClock) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as other:
        other.execute("PRAGMA user_version = 7")
    with pytest.raises(GatewayError, match="schema version 7"):
        Ledger(path, clock)


def test_not_a_database_is_a_gateway_error(tmp_path: Path, clock: VirtualClock) -> None:
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GatewayError, match=str(path)):
        Ledger(path, clock)


def test_concurrent_writers(ledger: Ledger) -> None:
    threads = 8
    per_thread = 25
    created_same_key: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def work(worker: int) -> None:
        barrier.wait(timeout=10)
        for n in range(per_thread):
            record(ledger, f"{worker:02d}{n:04d}")
            _, created = record(ledger, "999999")  # every thread races for one key
            with lock:
                created_same_key.append(created)

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert len(ledger) == threads * per_thread + 1
    assert created_same_key.count(True) == 1
