from __future__ import annotations

import sqlite3
from pathlib import Path

from simulator.clock import VirtualClock
from simulator.terminal.journal import Journal, TxnState


def _begin(journal: Journal) -> int:
    return journal.begin(
        order_no="O1",
        transmission="0115023000",
        amount_fen=1234,
        currency="156",
        masked_pan="621483******3655",
        entry_mode="051",
    ).id


def test_stan_is_persistent_and_increments(tmp_path: Path) -> None:
    clock = VirtualClock()
    journal = Journal(tmp_path / "j.sqlite", clock)
    stans = [journal.get(_begin(journal)).stan for _ in range(3)]
    assert stans == ["000001", "000002", "000003"]
    journal.close()
    reopened = Journal(tmp_path / "j.sqlite", clock)
    assert reopened.get(_begin(reopened)).stan == "000004"


def test_entry_is_committed_before_anything_is_sent(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", VirtualClock())
    entry_id = _begin(journal)
    # A second, independent connection (another process after a crash) sees it.
    other = sqlite3.connect(tmp_path / "j.sqlite")
    (state,) = other.execute("SELECT state FROM transactions WHERE id=?", (entry_id,)).fetchone()
    assert state == TxnState.PENDING.value


def test_updates_and_pending_reversals(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", VirtualClock())
    first = _begin(journal)
    second = _begin(journal)
    journal.update(first, TxnState.APPROVED, response_code="00", rrn="1", auth_code="A")
    journal.update(second, TxnState.REVERSAL_PENDING)
    assert [e.id for e in journal.entries(TxnState.REVERSAL_PENDING)] == [second]
    approved = journal.get(first)
    assert (approved.state, approved.response_code, approved.auth_code) == (
        TxnState.APPROVED,
        "00",
        "A",
    )
    assert approved.masked_pan == "621483******3655"
