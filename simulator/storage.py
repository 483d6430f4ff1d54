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
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_database(path: Path | str, *, busy_timeout: float = 30.0) -> sqlite3.Connection:
    """A connection for explicit ``BEGIN IMMEDIATE`` ... ``COMMIT`` transactions."""
    db = sqlite3.connect(
        str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout
    )
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error:
        db.close()
        raise
    return db
