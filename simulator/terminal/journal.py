"""The terminal's durable transaction journal (SQLite).

A transaction is written here -- and committed (see :mod:`simulator.storage`) -- *before* its
authorisation request leaves the terminal, and every later fact about it (host
answer, reversal) is another committed update. After a crash the journal tells
what may have been charged and still needs a reversal: an authorised
transaction is never lost and never charged twice.

Only the masked PAN is stored; the reversal message does not need the PAN (the
host matches it by original data elements, DE90).

Card rows are sales, voids and refunds (``operation``; a void or refund names
the sale's RRN in ``original_rrn``) and the pre-authorisation family
(``preauth``, ``preauth_void``, ``preauth_completion``,
``preauth_completion_void``; each follow-up names its original's RRN), each in
the batch open when it was written. A completion approved offline waits in
``advice_pending`` until the host has its advice (docs/gateway.md). A batch
close (docs/settlement.md) is a ``settlements`` row; a successful one opens the
next batch in the same committed transaction.

The file is a :class:`~simulator.storage.SqliteStore` with its own schema
versions (:data:`SCHEMA`): version 1 is everything up to the QR rows, the
settlements and the sale/void/refund columns. A journal written before the
schema was versioned (``user_version`` 0, perhaps without those tables and
columns) gains what it lacks when it is opened.
"""

from __future__ import annotations

import enum
import sqlite3
from pathlib import Path
from typing import TypeVar

import attrs

from drivers.clock import Clock
from simulator.storage import Schema, SqliteStore, Table, add_columns, statements


class TxnState(str, enum.Enum):
    PENDING = "pending"  # written, request about to go out
    APPROVED = "approved"
    DECLINED = "declined"
    REVERSAL_PENDING = "reversal_pending"  # may have been charged: must be reversed
    # A pre-auth completion approved offline: its 0220 advice is owed to the host.
    ADVICE_PENDING = "advice_pending"
    REVERSED = "reversed"
    ABORTED = "aborted"  # never sent (card removed, PIN cancelled ...)


@attrs.frozen
class JournalEntry:
    id: int
    order_no: str
    batch_no: str
    stan: str
    transmission: str  # DE7 MMDDhhmmss of the request
    amount_fen: int
    currency: str
    masked_pan: str
    entry_mode: str
    state: TxnState
    response_code: str
    rrn: str
    auth_code: str
    reason: str
    created_at: str
    updated_at: str
    # sale / void / refund / preauth / preauth_void / preauth_completion /
    # preauth_completion_void
    operation: str = "sale"
    original_rrn: str = ""  # void / refund: the sale's RRN
    card_label: str = ""  # what the receipt and the settlement report call the card


class SettlementState(str, enum.Enum):
    PENDING = "pending"  # 0500 about to go out
    BALANCED = "balanced"
    OUT_OF_BALANCE = "out_of_balance"
    FAILED = "failed"  # no answer or refused: the batch stays open


@attrs.frozen
class SettlementEntry:
    id: int
    batch_no: str
    stan: str
    transmission: str
    debit_count: int
    debit_total: int  # fen
    credit_count: int
    credit_total: int  # fen
    state: SettlementState
    response_code: str
    reason: str
    created_at: str
    updated_at: str


class QrState(str, enum.Enum):
    """A QR payment as the terminal knows it (docs/qr_api.md trade states, lower case)."""

    PENDING = "pending"  # written, request about to go out
    USERPAYING = "userpaying"  # the customer must confirm on the phone
    NOTPAY = "notpay"  # a dynamic QR shown, not paid yet
    SUCCESS = "success"
    FAILED = "failed"  # refused (invalid code, not enough money ...): nothing charged
    REVOKED = "revoked"  # cancelled or voided: nothing (more) charged
    CLOSED = "closed"  # the customer cancelled / the QR expired unpaid
    REFUND = "refund"  # a refund row: the money went back


@attrs.frozen
class QrEntry:
    id: int
    operation: str  # sale / refund
    method: str  # scan / wechat / alipay / unionpay_qr (how the cashier asked)
    channel: str  # wechat / alipay / unionpay_qr (where the money moved)
    out_trade_no: str
    out_refund_no: str
    amount_fen: int
    state: QrState
    transaction_id: str
    reason: str
    created_at: str
    updated_at: str


ENTRIES = Table(JournalEntry, "transactions", convert={"state": TxnState})
SETTLEMENTS = Table(SettlementEntry, "settlements", convert={"state": SettlementState})
QR_ENTRIES = Table(QrEntry, "qr_transactions", convert={"state": QrState})
_Row = TypeVar("_Row")

_TABLES = (
    """
CREATE TABLE IF NOT EXISTS qr_transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    operation TEXT NOT NULL,
    method TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT '',
    out_trade_no TEXT NOT NULL,
    out_refund_no TEXT NOT NULL DEFAULT '',
    amount_fen INTEGER NOT NULL,
    state TEXT NOT NULL,
    transaction_id TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
""",
    """
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
)
""",
    """
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_no TEXT NOT NULL,
    batch_no TEXT NOT NULL,
    stan TEXT NOT NULL,
    transmission TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    currency TEXT NOT NULL,
    masked_pan TEXT NOT NULL,
    entry_mode TEXT NOT NULL,
    state TEXT NOT NULL,
    response_code TEXT NOT NULL DEFAULT '',
    rrn TEXT NOT NULL DEFAULT '',
    auth_code TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (batch_no, stan)
)
""",
    # Every sale first looks for reversals still owed; only those rows are indexed,
    # so the look-up stays instant however long the journal grows.
    """
CREATE INDEX IF NOT EXISTS transactions_reversal_pending
    ON transactions (state) WHERE state = 'reversal_pending'
""",
    """
CREATE TABLE IF NOT EXISTS settlements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_no TEXT NOT NULL,
    stan TEXT NOT NULL,
    transmission TEXT NOT NULL,
    debit_count INTEGER NOT NULL,
    debit_total INTEGER NOT NULL,
    credit_count INTEGER NOT NULL,
    credit_total INTEGER NOT NULL,
    state TEXT NOT NULL,
    response_code TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
""",
    "INSERT OR IGNORE INTO counters VALUES ('stan', 0), ('batch', 1)",
)
# Added to `transactions` after the first release (ALTER TABLE on older journals).
_ADDED_COLUMNS = (
    ("operation", "TEXT NOT NULL DEFAULT 'sale'"),
    ("original_rrn", "TEXT NOT NULL DEFAULT ''"),
    ("card_label", "TEXT NOT NULL DEFAULT ''"),
)


def _version_1(db: sqlite3.Connection) -> None:
    statements(*_TABLES)(db)
    add_columns("transactions", *_ADDED_COLUMNS)(db)


SCHEMA = Schema("journal", (_version_1,))
BATCH_WRAP = 999_999


class Journal:
    """The terminal's journal on ``path`` (created, or migrated from an older version).

    Raises:
        StorageError: one line naming the file: it is not a journal, or is from
            a newer possim.
    """

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._store = SqliteStore(path, clock, SCHEMA)
        self._transaction = self._store.transaction

    def close(self) -> None:
        self._store.close()

    @staticmethod
    def _allocate_stan(db: sqlite3.Connection) -> str:
        (value,) = db.execute("SELECT value FROM counters WHERE name='stan'").fetchone()
        value = value % 999_999 + 1
        db.execute("UPDATE counters SET value=? WHERE name='stan'", (value,))
        return f"{value:06d}"

    @property
    def batch_no(self) -> str:
        with self._store.reading() as db:
            (value,) = db.execute("SELECT value FROM counters WHERE name='batch'").fetchone()
        return f"{value:06d}"

    def begin(
        self,
        *,
        order_no: str,
        transmission: str,
        amount_fen: int,
        currency: str,
        masked_pan: str,
        entry_mode: str,
        operation: str = "sale",
        original_rrn: str = "",
        card_label: str = "",
    ) -> JournalEntry:
        """Write a pending transaction with the next STAN and commit both.

        One transaction: a STAN is never used up without its row.
        """
        now = self._clock.now().isoformat()
        with self._transaction() as db:
            stan = self._allocate_stan(db)
            cursor = db.execute(
                "INSERT INTO transactions (order_no, batch_no, stan, transmission, amount_fen,"
                " currency, masked_pan, entry_mode, state, created_at, updated_at, operation,"
                " original_rrn, card_label)"
                " VALUES (?, (SELECT printf('%06d', value) FROM counters WHERE name='batch'),"
                " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order_no,
                    stan,
                    transmission,
                    amount_fen,
                    currency,
                    masked_pan,
                    entry_mode,
                    TxnState.PENDING.value,
                    now,
                    now,
                    operation,
                    original_rrn,
                    card_label,
                ),
            )
            row_id = cursor.lastrowid
            assert row_id is not None
            # Read back in the same transaction: no second round of file locks.
            return ENTRIES.get(db, row_id)

    def update(
        self,
        entry_id: int,
        state: TxnState,
        *,
        response_code: str | None = None,
        rrn: str | None = None,
        auth_code: str | None = None,
        reason: str | None = None,
    ) -> JournalEntry:
        fields = {"response_code": response_code, "rrn": rrn, "auth_code": auth_code}
        with self._transaction() as db:
            self._set(db, ENTRIES, entry_id, state.value, reason=reason, **fields)
            return ENTRIES.get(db, entry_id)

    def _set(
        self,
        db: sqlite3.Connection,
        table: Table[_Row],
        entry_id: int,
        state: str,
        **fields: str | None,
    ) -> None:
        """Set ``state`` and every field given (not None) on one row."""
        changes = {"state": state, "updated_at": self._clock.now().isoformat()}
        changes.update({column: value for column, value in fields.items() if value is not None})
        table.update(db, entry_id, changes)

    def get(self, entry_id: int) -> JournalEntry:
        """The card row with this id.

        Raises:
            KeyError: there is none.
        """
        with self._store.reading() as db:
            return ENTRIES.get(db, entry_id)

    def entries(
        self, state: TxnState | None = None, *, batch_no: str | None = None
    ) -> list[JournalEntry]:
        conditions: list[str] = []
        params: list[str] = []
        if state is not None:
            conditions.append("state=?")
            params.append(state.value)
        if batch_no is not None:
            conditions.append("batch_no=?")
            params.append(batch_no)
        return self._store.rows_as(ENTRIES, " AND ".join(conditions), params)

    def find_sale(self, reference: str) -> JournalEntry | None:
        """The latest card sale with this order number or RRN."""
        return self._store.row_as(
            ENTRIES,
            "operation='sale' AND (order_no=? OR (rrn<>'' AND rrn=?))",
            (reference, reference),
            order="id DESC",
        )

    def find_operation(self, reference: str, operation: str) -> JournalEntry | None:
        """The latest row of this operation with this order number or RRN."""
        return self._store.row_as(
            ENTRIES,
            "operation=? AND (order_no=? OR (rrn<>'' AND rrn=?))",
            (operation, reference, reference),
            order="id DESC",
        )

    def find_by_rrn(self, rrn: str) -> JournalEntry | None:
        """The row the host gave this RRN, whatever its operation."""
        return self._store.row_as(ENTRIES, "rrn<>'' AND rrn=?", (rrn,), order="id DESC")

    def offsets(self, original_rrn: str) -> list[JournalEntry]:
        """Voids and refunds of the sale with this RRN."""
        return self._store.rows_as(ENTRIES, "original_rrn=?", (original_rrn,))

    # -- batch close ------------------------------------------------------------

    def begin_settlement(
        self,
        *,
        transmission: str,
        debit_count: int,
        debit_total: int,
        credit_count: int,
        credit_total: int,
    ) -> SettlementEntry:
        """A pending batch close of the open batch, with the next STAN, committed."""
        now = self._clock.now().isoformat()
        with self._transaction() as db:
            stan = self._allocate_stan(db)
            cursor = db.execute(
                "INSERT INTO settlements (batch_no, stan, transmission, debit_count,"
                " debit_total, credit_count, credit_total, state, created_at, updated_at)"
                " VALUES ((SELECT printf('%06d', value) FROM counters WHERE name='batch'),"
                " ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    stan,
                    transmission,
                    debit_count,
                    debit_total,
                    credit_count,
                    credit_total,
                    SettlementState.PENDING.value,
                    now,
                    now,
                ),
            )
            row_id = cursor.lastrowid
            assert row_id is not None
            return SETTLEMENTS.get(db, row_id)

    def finish_settlement(
        self, entry_id: int, state: SettlementState, *, response_code: str = "", reason: str = ""
    ) -> SettlementEntry:
        """Record the batch close's outcome; a settled batch (balanced or not) is
        closed and the next one opened in the same transaction."""
        with self._transaction() as db:
            self._set(
                db,
                SETTLEMENTS,
                entry_id,
                state.value,
                response_code=response_code,
                reason=reason,
            )
            if state in (SettlementState.BALANCED, SettlementState.OUT_OF_BALANCE):
                db.execute(
                    "UPDATE counters SET value = value % ? + 1 WHERE name='batch'", (BATCH_WRAP,)
                )
            return SETTLEMENTS.get(db, entry_id)

    def settlements(self) -> list[SettlementEntry]:
        return self._store.rows_as(SETTLEMENTS)

    def qr_begin(
        self,
        *,
        operation: str,
        method: str,
        out_trade_no: str,
        amount_fen: int,
        channel: str = "",
        out_refund_no: str = "",
    ) -> QrEntry:
        """Write a pending QR row and commit it before the request leaves."""
        now = self._clock.now().isoformat()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO qr_transactions (operation, method, channel, out_trade_no,"
                " out_refund_no,"
                " amount_fen, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    operation,
                    method,
                    channel,
                    out_trade_no,
                    out_refund_no,
                    amount_fen,
                    QrState.PENDING.value,
                    now,
                    now,
                ),
            )
            row_id = cursor.lastrowid
            assert row_id is not None
            return QR_ENTRIES.get(db, row_id)

    def qr_update(
        self,
        entry_id: int,
        state: QrState,
        *,
        channel: str | None = None,
        transaction_id: str | None = None,
        reason: str | None = None,
    ) -> QrEntry:
        fields = {"channel": channel, "transaction_id": transaction_id, "reason": reason}
        with self._transaction() as db:
            self._set(db, QR_ENTRIES, entry_id, state.value, **fields)
            return QR_ENTRIES.get(db, entry_id)

    def qr_entries(self) -> list[QrEntry]:
        return self._store.rows_as(QR_ENTRIES)
