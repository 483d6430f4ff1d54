"""Where possim keeps what must survive a crash: SQLite, opened one way.

The terminal journal and the acquirer ledger commit one transaction per fact,
before the message that depends on it leaves. The database runs in WAL mode
with ``synchronous=NORMAL``: a committed transaction survives the process
being killed at any instant (kill -9, a crash) -- the failure a test harness
meets and the one possim's durability tests exercise. It does not claim to
survive the host machine losing power mid-write, which ``synchronous=FULL``
would buy with an fsync per commit (about 0.25 ms each here, a fifth of a
simulated purchase); a simulated terminal's power loss is modelled by killing
its process, not the machine it runs on.

Checkpoints (copying the WAL back into the database file) are where the
fsyncs of ``synchronous=NORMAL`` happen. SQLite runs one automatically inside
whichever ``COMMIT`` pushes the WAL past 1000 pages, which stalls that one
request by 10-30 ms. On the real clock (``possim gateway serve``, a real
terminal) the serving connection therefore turns that off
(``wal_autocheckpoint=0``) and a :class:`Checkpointer` thread with its own
connection runs ``PRAGMA wal_checkpoint(PASSIVE)`` on a timer instead. PASSIVE
never blocks the writer, and a checkpoint changes where committed pages live,
not whether they are committed: a kill -9 during one loses nothing. When the
last connection closes SQLite checkpoints what is left and removes the WAL.
Simulations (the virtual clock) keep SQLite's automatic checkpoint: there a
stall costs no simulated time, and the transcript does not see it.

One writer: SQLite serialises transactions, but it cannot stop two processes
from each keeping state beside the file (an RRN counter, PIN try counts) and
answering from it. A process that owns a database takes a :class:`WriterLock`
on the ``<database>-lock`` file beside it (``flock``, exclusive, non-blocking);
a second one is refused at once. The kernel drops the lock when its holder
exits, however it exits (kill -9 included, which leaves the file behind, empty
of meaning), so a restart never finds a stale lock; a clean release removes
the file. The lock file is never the database itself: closing any descriptor
of the database would release the POSIX locks SQLite holds on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
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
    thread (see the module docstring) that ends when the connection is closed.
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


class DatabaseInUse(OSError):
    """Another process holds the database's writer lock (``holder``: its pid, if known)."""

    def __init__(self, path: str, holder: int | None) -> None:
        self.path = path
        self.holder = holder
        who = "another process" if holder is None else f"another process (pid {holder})"
        super().__init__(f"{path} is in use by {who}")


class WriterLock:
    """The exclusive right to write ``database``, held until :meth:`release` or exit.

    The lock file exists only while held: :meth:`release` removes it (then drops
    the lock), and a taker that finds the path pointing to a newer file than the
    one it locked (its holder removed it meanwhile) starts again.
    """

    def __init__(self, database: Path | str) -> None:
        self.path = f"{database}-lock"
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _pid_in(fd)
                os.close(fd)
                raise DatabaseInUse(str(database), holder) from None
            except OSError:
                os.close(fd)
                raise
            if _same_file(fd, self.path):
                break
            os.close(fd)  # locked a file its holder had just removed: take the new one
        # Who holds it, for the message the next one gets.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # still ours: nobody else can lock it while we do
            os.close(fd)  # drops the flock


def _same_file(fd: int, path: str) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _pid_in(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
