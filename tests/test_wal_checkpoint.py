"""Checkpoints run off the serving thread on the real clock, and lose nothing.

On a :class:`RealClock` the serving connection never checkpoints
(``wal_autocheckpoint=0``); a background thread on its own connection does,
with ``PRAGMA wal_checkpoint(PASSIVE)``. A checkpoint is seen in the database
file itself: a copy of that file alone, without its WAL, holds the rows.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from drivers.clock import RealClock
from simulator.clock import VirtualClock
from simulator.gateway.ledger import Ledger
from simulator.storage import CheckpointedConnection, open_database
from simulator.terminal.journal import Journal

ROWS = 3000  # one commit each: past SQLite's 1000-page automatic checkpoint
NEVER = 3600.0  # a timer that does not fire during a test


def fill(db: sqlite3.Connection, rows: int) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, payload TEXT)")
    for n in range(rows):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (payload) VALUES (?)", ("x" * 1000 + str(n),))
        db.execute("COMMIT")


def rows_in_database_file(path: Path, tmp_path: Path) -> int:
    """Rows the database file holds by itself, WAL left out."""
    alone = tmp_path / "alone.sqlite"
    shutil.copyfile(path, alone)
    with sqlite3.connect(alone) as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall()
        count = db.execute("SELECT COUNT(*) FROM t").fetchone()[0] if tables else 0
    db.close()
    return int(count)


def test_real_clock_checkpoints_in_the_background_only(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    db = open_database(path, clock=RealClock(), checkpoint_interval=NEVER)
    assert isinstance(db, CheckpointedConnection) and db.checkpointer is not None
    try:
        assert db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        fill(db, ROWS)
        # 3000 commits of a page each and the serving connection copied none of them.
        assert rows_in_database_file(path, tmp_path) == 0
        assert db.checkpointer.checkpoint_soon(timeout=30)
        assert db.checkpointer.error is None
        assert rows_in_database_file(path, tmp_path) == ROWS
    finally:
        checkpointer = db.checkpointer
        db.close()
    assert not checkpointer.running
    assert not Path(f"{path}-wal").exists()  # the last connection closed: WAL merged


def test_the_timer_checkpoints_without_being_asked(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    db = open_database(path, clock=RealClock(), checkpoint_interval=0.01)
    assert isinstance(db, CheckpointedConnection) and db.checkpointer is not None
    try:
        fill(db, 10)
        # Of the next two attempts, the second began after the last commit.
        assert db.checkpointer.wait_for_attempts(db.checkpointer.attempts + 2, timeout=30)
        assert rows_in_database_file(path, tmp_path) == 10
    finally:
        db.close()


def test_simulations_keep_sqlites_own_checkpoints(tmp_path: Path) -> None:
    db = open_database(tmp_path / "db.sqlite", clock=VirtualClock())
    try:
        assert isinstance(db, CheckpointedConnection) and db.checkpointer is None
        assert db.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    finally:
        db.close()


def test_an_in_memory_database_has_nothing_to_checkpoint() -> None:
    db = open_database(":memory:", clock=RealClock())
    try:
        assert isinstance(db, CheckpointedConnection) and db.checkpointer is None
    finally:
        db.close()


def checkpointers() -> int:
    return sum(thread.name == "possim-checkpoint" for thread in threading.enumerate())


def test_a_real_clock_ledger_and_journal_checkpoint_in_the_background(tmp_path: Path) -> None:
    before = checkpointers()
    ledger = Ledger(tmp_path / "ledger.sqlite", RealClock())
    journal = Journal(tmp_path / "journal.sqlite", RealClock())
    assert checkpointers() == before + 2
    ledger.close()
    journal.close()
    assert checkpointers() == before


COMMIT_UNTIL_KILLED = textwrap.dedent(
    """
    import sys
    from drivers.clock import RealClock
    from simulator.storage import open_database

    db = open_database(sys.argv[1], clock=RealClock(), checkpoint_interval=0.001)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)")
    n = 0
    while True:
        n += 1
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?, ?)", (n, "x" * 1000))
        db.execute("COMMIT")
        print(n, flush=True)
    """
)


def test_kill_9_while_checkpointing_loses_no_commit(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", COMMIT_UNTIL_KILLED, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        acknowledged = 0
        while acknowledged < ROWS:  # a checkpoint every millisecond meanwhile
            line = child.stdout.readline()
            assert line, "the writer died before it was killed"
            acknowledged = int(line)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (count, highest) = db.execute("SELECT COUNT(*), MAX(id) FROM t").fetchone()
    finally:
        db.close()
    assert highest >= acknowledged
    assert count == highest  # nothing acknowledged, nor anything before it, went missing
