"""The one way possim opens SQLite: WAL, ``synchronous=NORMAL``, background checkpoints.

Why these settings, and what they promise (kill -9 safety, not power loss):
the :mod:`simulator.storage` docstring.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from drivers.clock import Clock, RealClock

CHECKPOINT_INTERVAL = 0.5  # real seconds between background checkpoints


def open_database(
    path: Path | str,
    *,
    busy_timeout: float = 30.0,
    clock: Clock | None = None,
    checkpoint_interval: float = CHECKPOINT_INTERVAL,
) -> sqlite3.Connection:
    """A connection for explicit ``BEGIN IMMEDIATE`` ... ``COMMIT`` transactions.

    On a :class:`~drivers.clock.RealClock` checkpoints run in a background
    thread (see the :mod:`simulator.storage` docstring) that ends when the connection is closed.
    """
    db = sqlite3.connect(
        str(path),
        check_same_thread=False,
        isolation_level=None,
        timeout=busy_timeout,
        factory=CheckpointedConnection,
    )
    assert isinstance(db, CheckpointedConnection)
    try:
        (mode,) = db.execute("PRAGMA journal_mode=WAL").fetchone()
        db.execute("PRAGMA synchronous=NORMAL")
        # ":memory:" has no WAL and nothing to checkpoint.
        if isinstance(clock, RealClock) and str(mode).lower() == "wal":
            db.execute("PRAGMA wal_autocheckpoint=0")
            db.checkpointer = Checkpointer(path, checkpoint_interval, busy_timeout)
    except sqlite3.Error:
        db.close()
        raise
    return db


class CheckpointedConnection(sqlite3.Connection):
    """A connection that stops its background checkpointer when it is closed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checkpointer: Checkpointer | None = None

    def close(self) -> None:
        # The serving connection first: the checkpointer's connection is then the
        # last one, and closing it checkpoints the rest and removes the WAL.
        super().close()
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            checkpointer.close()


class Checkpointer:
    """``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` s, on its own connection."""

    def __init__(self, path: Path | str, interval: float, busy_timeout: float = 30.0) -> None:
        self._interval = interval
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout
        )
        self._stop = threading.Event()
        self._requested = threading.Event()
        self._done = threading.Condition()
        self.attempts = 0  # checkpoints tried, for tests and diagnostics
        self._started = 0
        self.error: sqlite3.Error | None = None  # the last failure, if any
        self._thread = threading.Thread(target=self._run, name="possim-checkpoint", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def checkpoint_soon(self, timeout: float | None = None) -> bool:
        """Ask for a checkpoint; True once one begun after this call was tried, else False."""
        with self._done:
            target = self._started + 1
            self._requested.set()
        return self.wait_for_attempts(target, timeout)

    def wait_for_attempts(self, attempts: int, timeout: float | None = None) -> bool:
        """True once ``attempts`` checkpoints have been tried (False on timeout or close)."""
        with self._done:
            self._done.wait_for(lambda: self.attempts >= attempts or self._stop.is_set(), timeout)
            return self.attempts >= attempts

    def close(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._requested.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._db.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._requested.wait(self._interval)
            self._requested.clear()
            if self._stop.is_set():
                break
            with self._done:
                self._started += 1
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:
                # A failed checkpoint loses nothing (the WAL keeps every commit):
                # note it and try again next time.
                self.error = exc
            with self._done:
                self.attempts += 1
                self._done.notify_all()
        with self._done:
            self._done.notify_all()
