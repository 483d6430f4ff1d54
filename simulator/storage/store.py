"""SqliteStore: transactions, versioned migrations, typed rows, one writer.

The contract and an example: the :mod:`simulator.storage` docstring.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import attrs

from drivers.clock import Clock
from simulator.errors import SimulatorError
from simulator.storage.connection import open_database
from simulator.storage.writer_lock import DatabaseInUse, WriterLock

T = TypeVar("T")
Migration = Callable[[sqlite3.Connection], None]
"""One step of a schema: takes a file from version n to n + 1, inside a transaction."""


class StorageError(SimulatorError):
    """A database cannot be opened, migrated, locked or written; the message names the file."""


def _migrations(value: Iterable[Migration]) -> tuple[Migration, ...]:
    return tuple(value)


@attrs.frozen
class Schema:
    """What a kind of database holds, as the migrations that build it.

    ``migrations[n]`` takes a file from version n to n + 1 (``PRAGMA
    user_version``); a new file is version 0 and goes through all of them. Write
    each step so that running it on a file that already has what it adds changes
    nothing (``IF NOT EXISTS``, :func:`add_columns`): files written before the
    schema was versioned then migrate too. ``name`` is what messages call such a
    file ("ledger"), ``error`` the exception they raise, and ``writer`` the
    program that would hold the writer lock ("possim gateway"), for the refusal.
    """

    name: str
    migrations: tuple[Migration, ...] = attrs.field(converter=_migrations)
    error: type[SimulatorError] = StorageError
    writer: str = ""

    @property
    def version(self) -> int:
        """The version this possim writes: the number of migrations."""
        return len(self.migrations)


def statements(*sql: str) -> Migration:
    """A migration that runs these SQL statements in order."""

    def run(db: sqlite3.Connection) -> None:
        for statement in sql:
            db.execute(statement)

    return run


def add_columns(table: str, *columns: tuple[str, str]) -> Migration:
    """A migration that adds each ``(name, declaration)`` column ``table`` lacks."""

    def run(db: sqlite3.Connection) -> None:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, declaration in columns:
            if name not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")

    return run


class Table(Generic[T]):
    """The rows of one table as instances of an attrs class.

    The columns are the class's fields, in field order. ``convert`` maps a column
    to the function that makes its field from the SQL value (a NULL stays None).
    ``columns`` and ``from_row`` are for a class that is not one field per column
    (a field made of several columns): the columns to select and how a row of
    them becomes an instance.

    Args:
        cls: the attrs class of a row.
        name: the table.
        convert: column -> function applied to its non-NULL values.
        columns: the columns to select, if not the class's fields.
        from_row: builds an instance from a row of ``columns``.

    Raises:
        ValueError: ``convert`` names a column that is not selected.
    """

    def __init__(
        self,
        cls: type[T],
        name: str,
        *,
        convert: Mapping[str, Callable[[Any], Any]] | None = None,
        columns: Sequence[str] | None = None,
        from_row: Callable[[tuple[Any, ...]], T] | None = None,
    ) -> None:
        names = (
            tuple(columns)
            if columns is not None
            else tuple(field.name for field in attrs.fields(cast(Any, cls)))
        )
        unknown = set(convert or ()) - set(names)
        if unknown:
            raise ValueError(f"{name}: no column {sorted(unknown)} to convert")
        self.name = name
        self.column_names = names
        self.columns = ", ".join(names)
        self._construct: Callable[..., T] = cls
        self._from_row = from_row
        self._convert = tuple((names.index(column), fn) for column, fn in (convert or {}).items())
        self._select = f"SELECT {self.columns} FROM {name}"

    def make(self, row: Sequence[Any]) -> T:
        """One instance from a row of :attr:`columns`, in that order."""
        if self._convert:
            values = list(row)
            for index, convert in self._convert:
                value = values[index]
                if value is not None:
                    values[index] = convert(value)
            row = values
        if self._from_row is not None:
            return self._from_row(tuple(row))
        return self._construct(*row)

    def select(
        self,
        db: sqlite3.Connection,
        where: str = "",
        params: Sequence[object] = (),
        *,
        order: str = "id",
    ) -> list[T]:
        """Every row matching ``where`` (SQL, with ``?`` for ``params``), in ``order``."""
        query = self._select
        if where:
            query += f" WHERE {where}"
        rows = db.execute(f"{query} ORDER BY {order}", params).fetchall()
        return [self.make(row) for row in rows]

    def first(
        self,
        db: sqlite3.Connection,
        where: str,
        params: Sequence[object] = (),
        *,
        order: str = "",
    ) -> T | None:
        """The first row matching ``where`` (in ``order``, if given), or None."""
        query = f"{self._select} WHERE {where}"
        if order:
            query += f" ORDER BY {order} LIMIT 1"
        row = db.execute(query, params).fetchone()
        return None if row is None else self.make(row)

    def get(self, db: sqlite3.Connection, row_id: int) -> T:
        """The row with this id.

        Raises:
            KeyError: there is none.
        """
        found = self.first(db, "id = ?", (row_id,))
        if found is None:
            raise KeyError(row_id)
        return found

    def update(self, db: sqlite3.Connection, row_id: int, changes: Mapping[str, object]) -> None:
        """Set these columns of the row with this id."""
        assignments = ", ".join(f"{column} = ?" for column in changes)
        db.execute(
            f"UPDATE {self.name} SET {assignments} WHERE id = ?", (*changes.values(), row_id)
        )


class SqliteStore:
    """One database file, opened, migrated and written one way.

    One connection (see :func:`open_database`), shared by all threads behind a
    lock; :meth:`transaction` for every change, :meth:`reading` and
    :meth:`rows_as` for reads. ``path`` may be ``":memory:"``.

    Args:
        path: the database file (created if absent).
        clock: the clock; a real clock checkpoints in the background.
        schema: what the file holds; opening migrates it to ``schema.version``.
        writer: take the file's :class:`WriterLock` (this process serves it).

    Raises:
        SimulatorError: of ``schema.error``'s class, with one line naming the
            file: it is not a database, is from a newer possim (a higher
            version), or another process holds its writer lock.
    """

    def __init__(
        self, path: Path | str, clock: Clock, schema: Schema, *, writer: bool = False
    ) -> None:
        self.path = str(path)
        self.schema = schema
        self._lock = threading.Lock()
        self._writer: WriterLock | None = None
        if writer and self.path != ":memory:":
            self._writer = self._take_writer_lock()
        try:
            self._db = open_database(self.path, clock=clock)
        except sqlite3.Error as exc:
            self._release_writer()
            raise schema.error(f"cannot open {schema.name} {self.path}: {exc}") from None
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            self._release_writer()
            raise

    @property
    def version(self) -> int:
        """The file's schema version (``PRAGMA user_version``)."""
        with self.reading() as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
        return int(version)

    def close(self) -> None:
        """Close the connection (SQLite checkpoints) and drop the writer lock, if held."""
        with self._lock:
            self._db.close()
        self._release_writer()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on an exception.

        Committed before the ``with`` block's caller goes on: with WAL and
        ``synchronous=NORMAL`` it survives the process being killed.

        Raises:
            SimulatorError: of ``schema.error``'s class, when SQLite cannot begin
                or commit (the database is locked longer than the busy timeout,
                the disk is full).
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error(f"cannot begin: {exc}") from None
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise self._error(f"cannot commit: {exc}") from None

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection under the store's lock, outside a transaction: for reads."""
        with self._lock:
            yield self._db

    def rows_as(
        self, table: Table[T], where: str = "", params: Sequence[object] = (), *, order: str = "id"
    ) -> list[T]:
        """:meth:`Table.select` under the store's lock."""
        with self._lock:
            return table.select(self._db, where, params, order=order)

    def row_as(
        self, table: Table[T], where: str, params: Sequence[object] = (), *, order: str = ""
    ) -> T | None:
        """:meth:`Table.first` under the store's lock."""
        with self._lock:
            return table.first(self._db, where, params, order=order)

    def _error(self, problem: str) -> SimulatorError:
        return self.schema.error(f"{self.schema.name} {self.path}: {problem}")

    def _migrate(self) -> None:
        schema = self.schema
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version == schema.version:
            return
        try:
            with self.transaction() as db:
                # Again under the write lock: another process may have migrated it.
                (version,) = db.execute("PRAGMA user_version").fetchone()
                if not 0 <= version <= schema.version:
                    raise schema.error(
                        f"{schema.name} {self.path} has schema version {version}; "
                        f"this possim writes version {schema.version}"
                    )
                for migrate in schema.migrations[version:]:
                    migrate(db)
                db.execute(f"PRAGMA user_version = {schema.version}")
        except sqlite3.Error as exc:
            raise schema.error(f"cannot use {schema.name} {self.path}: {exc}") from None

    def _take_writer_lock(self) -> WriterLock:
        name = self.schema.name
        try:
            return WriterLock(self.path)
        except DatabaseInUse as exc:
            holder = "another process" if exc.holder is None else f"process {exc.holder}"
            guess = f" (another {self.schema.writer}?)" if self.schema.writer else ""
            raise self.schema.error(
                f"{name} {self.path} is already being written by {holder}{guess}: "
                f"stop that one, or give this one another {name}"
            ) from None
        except OSError as exc:
            raise self.schema.error(f"cannot lock {name} {self.path}: {exc}") from None

    def _release_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()
