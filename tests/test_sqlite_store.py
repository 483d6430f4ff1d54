"""SqliteStore: versioned migrations, transactions, typed rows and one writer, as the
journal and the ledger rely on them; the journal's own schema versions; the
documented examples (doctests) of the store and of ``Ledger.record_authorisation``."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import attrs
import pytest

from simulator.clock import VirtualClock
from simulator.errors import GatewayError
from simulator.storage import Schema, SqliteStore, StorageError, Table, statements
from simulator.terminal.journal import SCHEMA as JOURNAL_SCHEMA
from simulator.terminal.journal import Journal, SettlementState, TxnState

LOG_SCHEMA = Schema(
    "notes",
    (
        statements("CREATE TABLE log (id INTEGER PRIMARY KEY, step INTEGER NOT NULL)"),
        statements("INSERT INTO log (step) VALUES (2)"),
        statements("INSERT INTO log (step) VALUES (3)"),
    ),
)


def steps_run(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT step FROM log ORDER BY id")]


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_a_file_gets_only_the_migrations_it_has_not_had(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    first = attrs.evolve(LOG_SCHEMA, migrations=LOG_SCHEMA.migrations[:2])
    SqliteStore(path, VirtualClock(), first).close()
    assert (user_version(path), steps_run(path)) == (2, [2])
    with SqliteStore(path, VirtualClock(), LOG_SCHEMA) as store:
        assert store.version == 3
    assert steps_run(path) == [2, 3]
    SqliteStore(path, VirtualClock(), LOG_SCHEMA).close()  # up to date: nothing runs
    assert steps_run(path) == [2, 3]


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    SqliteStore(path, VirtualClock(), attrs.evolve(LOG_SCHEMA, migrations=[])).close()
    broken = Schema(
        "notes",
        (
            statements("CREATE TABLE kept (id INTEGER PRIMARY KEY)"),
            statements("CREATE TABLE broken (id INTEGER PRIMARY KEY", "never reached"),
        ),
    )
    with pytest.raises(StorageError, match=f"^cannot use notes {path}: ") as refused:
        SqliteStore(path, VirtualClock(), broken)
    assert "\n" not in str(refused.value)
    with sqlite3.connect(path) as db:  # all or nothing: not even version 1's table
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert (user_version(path), tables) == (0, set())


def test_a_file_from_a_newer_possim_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 9")
    schema = attrs.evolve(LOG_SCHEMA, error=GatewayError)
    message = f"^notes {path} has schema version 9; this possim writes version 3$"
    with pytest.raises(GatewayError, match=message):
        SqliteStore(path, VirtualClock(), schema)
    assert user_version(path) == 9


def test_a_transaction_commits_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    with SqliteStore(path, VirtualClock(), LOG_SCHEMA) as store:
        with pytest.raises(ZeroDivisionError), store.transaction() as db:
            db.execute("INSERT INTO log (step) VALUES (10)")
            raise ZeroDivisionError
        with store.transaction() as db:
            db.execute("INSERT INTO log (step) VALUES (11)")
        # Committed: a second connection (another process) sees it at once.
        assert steps_run(path) == [2, 3, 11]


@attrs.frozen
class Note:
    id: int
    text: str | None
    pinned: bool


def test_rows_come_back_as_their_class(tmp_path: Path) -> None:
    schema = Schema(
        "notes",
        (statements("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT, pinned INTEGER)"),),
    )
    notes = Table(Note, "notes", convert={"pinned": bool, "text": str.upper})
    with SqliteStore(tmp_path / "n.sqlite", VirtualClock(), schema) as store:
        with store.transaction() as db:
            db.execute("INSERT INTO notes (text, pinned) VALUES ('a', 1), (NULL, 0)")
            notes.update(db, 2, {"pinned": 1})
        assert store.rows_as(notes) == [Note(1, "A", True), Note(2, None, True)]
        assert store.row_as(notes, "text IS NULL") == Note(2, None, True)
        assert store.rows_as(notes, "pinned = ?", (0,)) == []
        with store.reading() as db, pytest.raises(KeyError):
            notes.get(db, 3)
    with pytest.raises(ValueError, match="no column"):
        Table(Note, "notes", convert={"colour": str})


def test_one_writer_per_file_and_any_number_of_readers(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    schema = attrs.evolve(LOG_SCHEMA, writer="possim notes")
    with SqliteStore(path, VirtualClock(), schema, writer=True):
        with pytest.raises(StorageError) as refused:
            SqliteStore(path, VirtualClock(), schema, writer=True)
        assert str(refused.value) == (
            f"notes {path} is already being written by process {os.getpid()} "
            "(another possim notes?): stop that one, or give this one another notes"
        )
        SqliteStore(path, VirtualClock(), schema).close()
    assert not Path(f"{path}-lock").exists()
    SqliteStore(path, VirtualClock(), schema, writer=True).close()  # free again


# -- the journal's versions ---------------------------------------------------------


def _sale(journal: Journal) -> int:
    return journal.begin(
        order_no="O1",
        transmission="0115023000",
        amount_fen=1234,
        currency="156",
        masked_pan="621483******3655",
        entry_mode="051",
    ).id


def test_a_journal_from_before_versions_opens_and_keeps_counting(tmp_path: Path) -> None:
    """possim wrote journals without a version (user_version 0) up to now: the
    same tables, or the first release's card table alone (tests/test_settlement.py)."""
    path = tmp_path / "journal.sqlite"
    clock = VirtualClock()
    journal = Journal(path, clock)
    journal.update(_sale(journal), TxnState.APPROVED, rrn="260115000001")
    close = journal.begin_settlement(
        transmission="0115023000", debit_count=1, debit_total=1234, credit_count=0, credit_total=0
    )
    journal.finish_settlement(close.id, SettlementState.BALANCED, response_code="00")
    entries, settlements = journal.entries(), journal.settlements()
    journal.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 0")  # as the journal was before versions
    reopened = Journal(path, clock)
    assert (reopened.entries(), reopened.settlements()) == (entries, settlements)
    assert reopened.batch_no == "000002"
    assert reopened.get(_sale(reopened)).stan == "000003"  # after the sale and the close
    reopened.close()
    assert user_version(path) == JOURNAL_SCHEMA.version == 1


def test_a_journal_from_a_newer_possim_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 2")
    with pytest.raises(StorageError, match="has schema version 2; this possim writes version 1"):
        Journal(path, VirtualClock())


def test_not_a_journal_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match=f"^cannot open journal {path}: "):
        Journal(path, VirtualClock())
