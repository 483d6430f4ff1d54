"""Where possim keeps what must survive a crash: SQLite, opened one way.

:class:`SqliteStore` is the one way possim's databases are opened, migrated
and written: the terminal journal and the acquirer ledger (card, QR and
settlement tables in one file) both stand on it. It gives

* :meth:`SqliteStore.transaction`: one ``BEGIN IMMEDIATE`` ... ``COMMIT``,
  rolled back on an exception, under the store's lock (one connection shared
  by all threads);
* versioned migrations (:class:`Schema`): ``PRAGMA user_version`` says which
  of a schema's migrations a file has had; opening runs the missing ones in
  one transaction, and refuses a file from a newer possim;
* typed rows (:class:`Table`, :meth:`SqliteStore.rows_as`): the columns of a
  table are the fields of an attrs class, in field order, converted once;
* the single-writer lock (:class:`WriterLock`) for a process that owns a file.

The journal and the ledger commit one transaction per fact,
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

Example, a store with two versions (the second adds a column)::

    >>> import attrs
    >>> from simulator.clock import VirtualClock
    >>> @attrs.frozen
    ... class Note:
    ...     id: int
    ...     text: str
    ...     pinned: bool
    >>> schema = Schema("notes", (
    ...     statements("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"),
    ...     add_columns("notes", ("pinned", "INTEGER NOT NULL DEFAULT 0")),
    ... ))
    >>> notes = Table(Note, "notes", convert={"pinned": bool})
    >>> with SqliteStore(":memory:", VirtualClock(), schema) as store:
    ...     with store.transaction() as db:
    ...         _ = db.execute("INSERT INTO notes (text) VALUES ('hello')")
    ...     store.rows_as(notes), store.version
    ([Note(id=1, text='hello', pinned=False)], 2)
"""

from simulator.storage.connection import (
    CHECKPOINT_INTERVAL,
    CheckpointedConnection,
    Checkpointer,
    open_database,
)
from simulator.storage.store import (
    Migration,
    Schema,
    SqliteStore,
    StorageError,
    Table,
    add_columns,
    statements,
)
from simulator.storage.writer_lock import DatabaseInUse, WriterLock

__all__ = [
    "CHECKPOINT_INTERVAL",
    "CheckpointedConnection",
    "Checkpointer",
    "DatabaseInUse",
    "Migration",
    "Schema",
    "SqliteStore",
    "StorageError",
    "Table",
    "WriterLock",
    "add_columns",
    "open_database",
    "statements",
]
