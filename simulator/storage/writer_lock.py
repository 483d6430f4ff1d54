"""One writer per database: an exclusive ``flock`` on ``<database>-lock``.

Why, and why the lock is a file beside the database and never the database
itself: the :mod:`simulator.storage` docstring.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


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
