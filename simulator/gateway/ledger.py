"""The gateway's ledger of card and QR transactions (SQLite).

One row per authorisation request, keyed uniquely by terminal id (DE41),
STAN (DE11) and transmission date-time (DE7): a retransmitted request finds
its row instead of charging twice, and a reversal (which carries no PAN)
finds the original by the same key from DE90.

QR orders (``qr_transactions``, keyed by merchant id and the merchant's
order number) and their refunds (``qr_refunds``, keyed by merchant id and
refund number) live in the same file; :mod:`simulator.gateway.qr.orders`
reads and writes them through :meth:`Ledger.transaction`. Schema version 2
added them; a version 1 ledger is migrated in place (new tables only).

Durability: one ``BEGIN IMMEDIATE`` transaction around each change, committed
before the reply leaves (see :mod:`simulator.storage`). Only the masked PAN is ever stored. Times
come from the injected clock, so a simulation on virtual time writes the same
ledger every run. One connection shared by all threads behind a lock.
"""

from __future__ import annotations

import enum
import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from drivers.clock import Clock
from simulator.errors import GatewayError
from simulator.redact import mask_pan
from simulator.storage import open_database

SCHEMA_VERSION = 2
_MASKED_PAN = re.compile(r"^\d{6}\*{2,9}\d{4}$")

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS card_transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tid TEXT NOT NULL,
    stan TEXT NOT NULL,
    transmission TEXT NOT NULL,
    mid TEXT NOT NULL,
    mti TEXT NOT NULL,
    processing_code TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    masked_pan TEXT NOT NULL,
    issuer TEXT,
    rrn TEXT,
    auth_code TEXT,
    response_code TEXT,
    status TEXT NOT NULL
        CHECK (status IN ('approved', 'declined', 'unanswered', 'reversed')),
    note TEXT NOT NULL DEFAULT '',
    response TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    reversal_received_at TEXT,
    UNIQUE (tid, stan, transmission)
)
""",
    "CREATE INDEX IF NOT EXISTS card_transactions_created ON card_transactions (created_at)",
    # Version 2: QR orders and refunds. Only the masked payment code and its
    # SHA-256 (to tell a repeat from a different code) are stored.
    """
CREATE TABLE IF NOT EXISTS qr_transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('micropay', 'precreate')),
    channel TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    currency TEXT NOT NULL,
    masked_code TEXT,
    code_digest TEXT,
    description TEXT NOT NULL DEFAULT '',
    trade_state TEXT NOT NULL CHECK (trade_state IN
        ('SUCCESS', 'USERPAYING', 'NOTPAY', 'CLOSED', 'REVOKED', 'REFUND', 'PAYERROR')),
    error_code TEXT,
    transaction_id TEXT,
    paid_at TEXT,
    refunded_fen INTEGER NOT NULL DEFAULT 0,
    notify_url TEXT,
    issuance TEXT,
    qr_payload TEXT,
    expires_at TEXT,
    wallet TEXT,
    notify_attempts INTEGER NOT NULL DEFAULT 0,
    notified_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (merchant_id, out_trade_no)
)
""",
    """
CREATE TABLE IF NOT EXISTS qr_refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id TEXT NOT NULL,
    out_refund_no TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    refund_fen INTEGER NOT NULL,
    refund_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (merchant_id, out_refund_no)
)
""",
)

_COLUMNS = (
    "id, tid, stan, transmission, mid, mti, processing_code, amount, currency, masked_pan, "
    "issuer, rrn, auth_code, response_code, status, note, response, created_at, updated_at, "
    "reversal_received_at"
)


class Status(str, enum.Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    UNANSWERED = "unanswered"  # the host never replied: not charged
    REVERSED = "reversed"  # was approved, then undone by a 0400

    def __str__(self) -> str:
        return self.value


def _frozen_mapping(value: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return None if value is None else MappingProxyType(dict(value))


@attrs.frozen
class LedgerEntry:
    id: int
    tid: str
    stan: str
    transmission: str
    mid: str
    mti: str
    processing_code: str
    amount: int  # fen
    currency: str  # ISO 4217 numeric, e.g. "156"
    masked_pan: str
    issuer: str | None
    rrn: str | None
    auth_code: str | None
    response_code: str | None
    status: Status
    note: str
    created_at: datetime
    updated_at: datetime
    reversal_received_at: datetime | None
    # The reply the host sent (ISO 8583 fields; never card data), so a
    # retransmitted request gets exactly the same answer. None: no reply.
    response: Mapping[str, str] | None = attrs.field(converter=_frozen_mapping)

    @property
    def charged(self) -> bool:
        return self.status is Status.APPROVED

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tid, self.stan, self.transmission)


def _frozen_amounts(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


@attrs.frozen
class LedgerTotals:
    count: int
    approved: int
    declined: int
    unanswered: int
    reversed: int
    # currency -> fen still charged (approved and not reversed)
    net_amounts: Mapping[str, int] = attrs.field(converter=_frozen_amounts)

    def net_amount(self, currency: str = "156") -> int:
        return self.net_amounts.get(currency, 0)


class Ledger:
    """Thread-safe SQLite ledger; ``path`` may be ``":memory:"``."""

    def __init__(self, path: Path | str, clock: Clock) -> None:
        self.path = str(path)
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self._db = open_database(self.path)
        except sqlite3.Error as exc:
            raise GatewayError(f"cannot open ledger {self.path}: {exc}") from None
        try:
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise GatewayError(f"cannot use ledger {self.path}: {exc}") from None

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- changes ---------------------------------------------------------------

    def record_authorisation(
        self,
        *,
        tid: str,
        stan: str,
        transmission: str,
        mid: str,
        amount: int,
        currency: str,
        pan: str,
        status: Status | str,
        response_code: str | None,
        rrn: str | None = None,
        auth_code: str | None = None,
        mti: str = "0200",
        processing_code: str = "000000",
        issuer: str | None = None,
        note: str = "",
        response: Mapping[str, str] | None = None,
    ) -> tuple[LedgerEntry, bool]:
        """Insert one authorisation; ``(entry, True)``.

        If the key (tid, stan, transmission) is already there nothing changes
        and the existing row comes back: ``(existing, False)``. ``pan`` is
        masked before it is stored (an already masked PAN is kept).
        """
        status = Status(status)
        masked = pan if _MASKED_PAN.match(pan) else mask_pan(pan)
        now = self._now()
        values = (
            tid,
            stan,
            transmission,
            mid,
            mti,
            processing_code,
            int(amount),
            currency,
            masked,
            issuer,
            rrn,
            auth_code,
            response_code,
            status.value,
            note,
            None if response is None else json.dumps(dict(response)),
            now,
            now,
        )
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO card_transactions (tid, stan, transmission, mid, mti, "
                "processing_code, amount, currency, masked_pan, issuer, rrn, auth_code, "
                "response_code, status, note, response, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tid, stan, transmission) DO NOTHING",
                values,
            )
            created = cursor.rowcount == 1
            if created:
                # The row is exactly what was just written: no need to read it back.
                entry: LedgerEntry | None = _entry((cursor.lastrowid, *values, None))
            else:
                entry = self._select_one(db, tid, stan, transmission)
        if entry is None:  # pragma: no cover - the row was just written or was there
            raise GatewayError(f"ledger {self.path} lost transaction {tid}/{stan}/{transmission}")
        return entry, created

    def reverse(self, tid: str, stan: str, transmission: str) -> LedgerEntry | None:
        """Undo an approved transaction; idempotent.

        Approved -> reversed. Declined, unanswered or already reversed: nothing
        to undo, only the first reversal's arrival time is noted. Unknown key:
        None.
        """
        now = self._now()
        with self._transaction() as db:
            entry = self._select_one(db, tid, stan, transmission)
            if entry is None:
                return None
            status = Status.REVERSED if entry.status is Status.APPROVED else entry.status
            if status is entry.status and entry.reversal_received_at is not None:
                return entry
            db.execute(
                "UPDATE card_transactions SET status = ?, updated_at = ?, "
                "reversal_received_at = COALESCE(reversal_received_at, ?) WHERE id = ?",
                (status.value, now, now, entry.id),
            )
            return self._select_one(db, tid, stan, transmission)

    # -- queries ---------------------------------------------------------------

    def find(self, tid: str, stan: str, transmission: str) -> LedgerEntry | None:
        with self._lock:
            return self._select_one(self._db, tid, stan, transmission)

    def transactions(self, day: date | str | None = None) -> list[LedgerEntry]:
        """Every transaction in arrival order; ``day`` keeps one local date."""
        query = f"SELECT {_COLUMNS} FROM card_transactions"
        params: tuple[Any, ...] = ()
        if day is not None:
            query += " WHERE substr(created_at, 1, 10) = ?"
            params = (_day_text(day),)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", params).fetchall()
        return [_entry(row) for row in rows]

    def totals(self, day: date | str | None = None) -> LedgerTotals:
        counts = dict.fromkeys(Status, 0)
        net: dict[str, int] = {}
        for entry in self.transactions(day):
            counts[entry.status] += 1
            if entry.charged:
                net[entry.currency] = net.get(entry.currency, 0) + entry.amount
        return LedgerTotals(
            count=sum(counts.values()),
            approved=counts[Status.APPROVED],
            declined=counts[Status.DECLINED],
            unanswered=counts[Status.UNANSWERED],
            reversed=counts[Status.REVERSED],
            net_amounts=net,
        )

    def last_id(self) -> int:
        """The highest row id so far (0 when empty): a base for RRN counters."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM card_transactions").fetchone()
        return int(row[0])

    def __len__(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM card_transactions").fetchone()
        return int(row[0])

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on an exception)."""
        return self._transaction()

    def now_text(self) -> str:
        """The clock's now as the ledger stores times."""
        return self._now()

    # -- internals -------------------------------------------------------------

    def _now(self) -> str:
        return self._clock.now().isoformat(timespec="microseconds")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise GatewayError(f"ledger {self.path}: cannot begin: {exc}") from None
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise GatewayError(f"ledger {self.path}: cannot commit: {exc}") from None

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version not in (0, 1, SCHEMA_VERSION):
            raise GatewayError(
                f"ledger {self.path} has schema version {version}; "
                f"this possim writes version {SCHEMA_VERSION}"
            )
        with self._transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _select_one(
        db: sqlite3.Connection, tid: str, stan: str, transmission: str
    ) -> LedgerEntry | None:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM card_transactions "
            "WHERE tid = ? AND stan = ? AND transmission = ?",
            (tid, stan, transmission),
        ).fetchone()
        return None if row is None else _entry(row)


def _day_text(day: date | str) -> str:
    if isinstance(day, date):
        return day.isoformat()
    return date.fromisoformat(day).isoformat()


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    (
        id_,
        tid,
        stan,
        transmission,
        mid,
        mti,
        processing_code,
        amount,
        currency,
        masked_pan,
        issuer,
        rrn,
        auth_code,
        response_code,
        status,
        note,
        response,
        created_at,
        updated_at,
        reversal_received_at,
    ) = row
    return LedgerEntry(
        id=int(id_),
        tid=tid,
        stan=stan,
        transmission=transmission,
        mid=mid,
        mti=mti,
        processing_code=processing_code,
        amount=int(amount),
        currency=currency,
        masked_pan=masked_pan,
        issuer=issuer,
        rrn=rrn,
        auth_code=auth_code,
        response_code=response_code,
        status=Status(status),
        note=note,
        created_at=datetime.fromisoformat(created_at),
        updated_at=datetime.fromisoformat(updated_at),
        reversal_received_at=(
            None if reversal_received_at is None else datetime.fromisoformat(reversal_received_at)
        ),
        response=None if response is None else json.loads(response),
    )
